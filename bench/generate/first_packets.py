#!/usr/bin/env python3
"""Keep the first K packets of every bidirectional 5-tuple flow of a capture (classic pcap;
Ethernet or raw IP), in their order, bytes unchanged; other frames are dropped. A generation
model of `pktlm prep --packets K` learns the first K packets of each flow, so
bench/generate/proof.sh also compares its output with real captures cut the same way (the
whole-flow comparison puts 400-packet real flows against 16-packet generated ones).
A flow here is the whole-capture 5-tuple (no idle timeout). Stdlib only.
usage: first_packets.py K IN.pcap OUT.pcap"""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from split_flows import key, records   # noqa: E402  (same flow key and reader as the split)

def main():
    k, src, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    hdr, lt, recs = records(src)
    seen, parts, n = {}, [hdr], 0
    for rec in recs:
        kk = key(lt, rec[16:])
        if kk is None: continue
        seen[kk] = seen.get(kk, 0) + 1
        if seen[kk] <= k: parts.append(rec); n += 1
    with open(out + '.tmp', 'wb') as f: f.write(b''.join(parts))
    os.replace(out + '.tmp', out)
    print('%s: %d flows, first %d packets each -> %s (%d packets)' % (src, len(seen), k, out, n))

if __name__ == '__main__':
    main()
