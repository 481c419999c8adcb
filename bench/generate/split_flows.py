#!/usr/bin/env python3
"""Split one capture into two by flow: every K-th bidirectional 5-tuple (in order of first
packet, 1-based index divisible by K) goes to HELDOUT, the rest to TRAIN; packets keep their
order and bytes. Used by bench/generate/proof.sh to hold out real flows of a single capture
(generation/tls2.pcap) from training, so `pktlm compare` measures memorisation against
flows the model never saw. Classic pcap (any link type pktlm reads: Ethernet and raw IP
here); stdlib only.
usage: split_flows.py IN.pcap TRAIN.pcap HELDOUT.pcap [K=5]"""
import struct, sys

def key(lt, frame):
    ip = frame[14:] if lt == 1 else frame
    if lt == 1:
        et = struct.unpack('>H', frame[12:14])[0]
        if et == 0x8100: et, ip = struct.unpack('>H', frame[16:18])[0], frame[18:]
        if et not in (0x0800, 0x86dd): return None
    if not ip: return None
    v = ip[0] >> 4
    if v == 4: proto, src, dst, l4 = ip[9], ip[12:16], ip[16:20], ip[(ip[0] & 15) * 4:]
    elif v == 6: proto, src, dst, l4 = ip[6], ip[8:24], ip[24:40], ip[40:]
    else: return None
    sp, dp = struct.unpack('>HH', l4[:4]) if proto in (6, 17) and len(l4) >= 4 else (0, 0)
    return (v, proto) + tuple(sorted([(src, sp), (dst, dp)]))

def records(src):
    """A classic pcap file: (its 24-byte header, link type, list of records with their 16-byte
    record headers)."""
    d = open(src, 'rb').read()
    le = d[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1')
    if not le and d[:4] not in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        sys.exit('%s: not a classic pcap file' % src)
    e = '<' if le else '>'
    recs, o = [], 24
    while o + 16 <= len(d):
        cl = struct.unpack(e + 'I', d[o + 8:o + 12])[0]
        recs.append(d[o:o + 16 + cl])
        o += 16 + cl
    return d[:24], struct.unpack(e + 'I', d[20:24])[0] & 0xffff, recs

def main():
    src, out_t, out_h = sys.argv[1:4]
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    hdr, lt, recs = records(src)
    idx, parts = {}, ([hdr], [hdr])
    for rec in recs:
        kk = key(lt, rec[16:])
        if kk is not None and kk not in idx: idx[kk] = len(idx) + 1
        held = kk is not None and idx[kk] % k == 0
        parts[1 if held else 0].append(rec)
    for path, p in zip((out_t, out_h), parts):
        with open(path + '.tmp', 'wb') as f: f.write(b''.join(p))
        import os; os.replace(path + '.tmp', path)
    print('%s: %d flows -> %s (%d packets), %s (%d packets, every %d-th flow)' %
          (src, len(idx), out_t, len(parts[0]) - 1, out_h, len(parts[1]) - 1, k))

if __name__ == '__main__':
    main()
