#!/usr/bin/env python3
"""tcpflowgen's validity check on pcap files, and a filter that keeps only its complete flows.

A TCP flow is a bidirectional 5-tuple over the whole capture (as tcpflowgen's FlowExtractor
keys flows). tcpflowgen's rule (pktlm: corpus/tcpfields.h tcpf_flow_type): with at least 7
packets, *handshake* = the first three packets' flags are exactly SYN, SYN+ACK, ACK;
*termination* = the last four are FIN+ACK, ACK, FIN+ACK, ACK (flags without CWR/ECE);
*complete* = both, in that order. Used by bench/generate/proof_fields.sh (docs/generate.md,
"Field tokens and linear attention") to measure how often generated flows complete the
handshake and the termination, against held-out real flows.

usage: tcp_complete.py check [--json] PCAP|DIR ...   counts per argument, then in all
       tcp_complete.py filter OUTDIR PCAP|DIR ...   OUTDIR/NAME.pcap: the packets of the
                                                    complete TCP flows of each input (inputs
                                                    without any are skipped)
Classic pcap only (Ethernet, raw IP, Linux SLL); stdlib only."""
import json, os, struct, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from split_flows import records  # noqa: E402  (one pcap record reader for bench/generate)

SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


def ip_of(lt, frame):
    """The IP packet of a frame, or None."""
    if lt == 1:
        if len(frame) < 14:
            return None
        et, off = struct.unpack('>H', frame[12:14])[0], 14
        while et in (0x8100, 0x88a8) and len(frame) >= off + 4:
            et, off = struct.unpack('>H', frame[off + 2:off + 4])[0], off + 4
        return frame[off:] if et in (0x0800, 0x86dd) else None
    if lt in (101, 228, 229, 12, 14):
        return frame
    if lt == 113:
        if len(frame) < 16:
            return None
        return frame[16:] if struct.unpack('>H', frame[14:16])[0] in (0x0800, 0x86dd) else None
    return None


def tcp_of(ip):
    """(flow key, (src, sport), flags) of a TCP packet whose flags byte is present, else None."""
    if not ip:
        return None
    v = ip[0] >> 4
    if v == 4 and len(ip) >= 20:
        if ip[9] != 6 or (struct.unpack('>H', ip[6:8])[0] & 0x1fff):
            return None
        src, dst, l4 = ip[12:16], ip[16:20], ip[(ip[0] & 15) * 4:]
    elif v == 6 and len(ip) >= 40:
        if ip[6] != 6:
            return None
        src, dst, l4 = ip[8:24], ip[24:40], ip[40:]
    else:
        return None
    if len(l4) < 14:
        return None
    sp, dp = struct.unpack('>HH', l4[:4])
    a, b = (src, sp), (dst, dp)
    return (v,) + tuple(sorted([a, b])), a, l4[13] & 0x3f


def flows_of(path):
    """{key: [record indices], flags list} of the TCP flows of one capture, in first-packet order
    (a file that is not a classic pcap has none: skipped with a note)."""
    try:
        hdr, lt, recs = records(path)
    except SystemExit as e:
        print('skipped: %s' % e, file=sys.stderr)
        return b'', [], {}
    fl = {}
    for i, rec in enumerate(recs):
        t = tcp_of(ip_of(lt, rec[16:]))
        if t is None:
            continue
        f = fl.setdefault(t[0], ([], []))
        f[0].append(i)
        f[1].append(t[2])
    return hdr, recs, fl


def kind(flags):
    """tcpflowgen's rule: (handshake, termination) of one flow's flags."""
    if len(flags) < 7:
        return False, False
    hs = flags[0] == SYN and flags[1] == SYN | ACK and flags[2] == ACK
    te = flags[-4:] == [FIN | ACK, ACK, FIN | ACK, ACK]
    return hs, te


def pcaps(args):
    for a in args:
        if os.path.isdir(a):
            for root, _, files in sorted(os.walk(a)):
                for f in sorted(files):
                    if f.endswith('.pcap'):
                        yield os.path.join(root, f)
        else:
            yield a


def check(args):
    js = args and args[0] == '--json'
    if js:
        args = args[1:]
    tot = dict(flows=0, ge7=0, handshake=0, termination=0, complete=0)
    per = []
    for p in pcaps(args):
        c = dict(tot, **{k: 0 for k in tot})
        for _, flags in flows_of(p)[2].values():
            hs, te = kind(flags)
            c['flows'] += 1; c['ge7'] += len(flags) >= 7
            c['handshake'] += hs; c['termination'] += te; c['complete'] += hs and te
        for k in tot:
            tot[k] += c[k]
        per.append((p, c))
    n = max(tot['flows'], 1)
    res = dict(tot, handshake_frac=tot['handshake'] / n, termination_frac=tot['termination'] / n,
               complete_frac=tot['complete'] / n)
    if js:
        print(json.dumps(res))
    else:
        print('TCP flows %d (>= 7 packets %d): handshake %d (%.1f %%), termination %d (%.1f %%), '
              'complete %d (%.1f %%)' % (tot['flows'], tot['ge7'], tot['handshake'], 100 * res['handshake_frac'],
                                         tot['termination'], 100 * res['termination_frac'], tot['complete'],
                                         100 * res['complete_frac']))


def filt(out, args):
    os.makedirs(out, exist_ok=True)
    nf = nk = 0
    for p in pcaps(args):
        hdr, recs, fl = flows_of(p)
        keep = sorted(i for idx, flags in fl.values() if all(kind(flags)) for i in idx)
        nf += len(fl)
        nk += sum(all(kind(flags)) for _, flags in fl.values())
        if not keep:
            continue
        name = os.path.join(out, os.path.basename(os.path.dirname(p)) + '_' + os.path.basename(p))
        with open(name + '.tmp', 'wb') as f:
            f.write(hdr + b''.join(recs[i] for i in keep))
        os.replace(name + '.tmp', name)
    print('%d of %d TCP flows complete -> %s' % (nk, nf, out))


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'check':
        check(sys.argv[2:])
    elif len(sys.argv) >= 4 and sys.argv[1] == 'filter':
        filt(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
