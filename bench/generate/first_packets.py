#!/usr/bin/env python3
"""Keep the first K packets of every bidirectional 5-tuple flow of a capture (classic pcap;
Ethernet or raw IP), in their order, bytes unchanged; other frames are dropped. A generation
model of `pktlm prep --packets K` learns the first K packets of each flow, so
bench/generate/proof.sh also compares its output with real captures cut the same way (the
whole-flow comparison puts 400-packet real flows against 16-packet generated ones).
A flow here is the whole-capture 5-tuple (no idle timeout). Stdlib only.
usage: first_packets.py K IN.pcap OUT.pcap"""
import os, struct, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from split_flows import key   # noqa: E402  (same flow key as the split)

def main():
    k, src, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    d = open(src, 'rb').read()
    le = d[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1')
    if not le and d[:4] not in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        sys.exit('%s: not a classic pcap file' % src)
    e = '<' if le else '>'
    lt = struct.unpack(e + 'I', d[20:24])[0] & 0xffff
    seen, parts, o, n = {}, [d[:24]], 24, 0
    while o + 16 <= len(d):
        cl = struct.unpack(e + 'I', d[o + 8:o + 12])[0]
        rec = d[o:o + 16 + cl]
        o += 16 + cl
        kk = key(lt, rec[16:])
        if kk is None: continue
        seen[kk] = seen.get(kk, 0) + 1
        if seen[kk] <= k: parts.append(rec); n += 1
    with open(out + '.tmp', 'wb') as f: f.write(b''.join(parts))
    os.replace(out + '.tmp', out)
    print('%s: %d flows, first %d packets each -> %s (%d packets)' % (src, len(seen), k, out, n))

if __name__ == '__main__':
    main()
