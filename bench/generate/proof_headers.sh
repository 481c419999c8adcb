#!/usr/bin/env bash
# The grammar mask's header rules against the model alone (docs/generate.md, "Header rules"):
# after bench/generate/proof.sh (default grammar), the same two models generate again with
# `--strict-headers` (same seed and settings), and the trace writer's repairs and `pktlm
# compare`'s distances are set side by side. Also counts the real captures' TCP headers cut by the snaplen (the
# writer completes those in replayed real traffic as well).
# Usage: bench/generate/proof_headers.sh [WORKDIR of proof.sh]
set -u
cd "$(dirname "$0")/../.."
W=${1:-/tmp/pktlm-gen-proof}
NPK=${NPK:-5000}
P="nice -n 19 ./pktlm"
for c in requet tls; do
  mkdir -p "$W/gen-strict/$c"
  [ -s "$W/gen-strict/$c/gen-$c.pcap" ] || $P generate --model "$W/gen-$c.ckpt" -o "$W/gen-strict/$c/gen-$c.pcap" \
     --packets $((NPK * 11 / 10)) --batch 16 --top-p 0.95 --seed 1 --threads 2 --json --strict-headers > "$W/summary-$c-strict.json" || exit 1
  ./pktlm compare "$W/heldout-first/$c" "$W/gen-strict/$c" --train "$W/train-first/$c" --json "$W/compare-$c-strict.json" \
     > "$W/compare-$c-strict.txt" || exit 1
done
python3 - "$W" <<'PY'
import json, struct, sys, glob
W = sys.argv[1]
def cut_frac(paths):
    tcp = cut = 0
    for path in paths:
        f = open(path, 'rb'); gh = f.read(24)
        e = '<' if struct.unpack('<I', gh[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else '>'
        link = struct.unpack(e + 'I', gh[20:24])[0]
        while True:
            h = f.read(16)
            if len(h) < 16: break
            cl = struct.unpack(e + 'IIII', h)[2]; d = f.read(cl)
            ip = d[14:] if link == 1 else d
            if len(ip) < 20 or ip[0] >> 4 not in (4, 6): continue
            ihl, proto = ((ip[0] & 15) * 4, ip[9]) if ip[0] >> 4 == 4 else (40, ip[6])
            if proto != 6 or len(ip) < ihl + 13: continue
            tcp += 1; cut += len(ip) < ihl + (ip[ihl + 12] >> 4) * 4
    return tcp, cut
kinds = ["fix_length", "fix_doff", "fix_options", "fix_cut", "fix_frag", "fix_ttl", "fix_ports"]
for c in ("requet", "tls"):
    print("== %s" % c)
    for tag, f in (("default", "summary-%s.json" % c), ("--strict-headers", "summary-%s-strict.json" % c)):
        s = json.load(open("%s/%s" % (W, f)))
        print("  %-16s packets %5d  repaired %5.1f%%  %s  handshake %.1f%%" % (tag, s["packets_written"], 100 * s["repaired_frac"],
              " ".join("%s %d" % (k[4:], s[k]) for k in kinds), 100 * s["tcp_handshake_frac"]))
    for tag, d in (("real held-out", "heldout-first"), ("real train", "train-first")):
        t, k = cut_frac(glob.glob("%s/%s/%s/*.pcap" % (W, d, c)))
        print("  %-16s TCP packets %5d, TCP header cut by the snaplen %5.1f%%" % (tag, t, 100 * k / max(t, 1)))
    for tag, f in (("default", "compare-%s.json" % c), ("--strict-headers", "compare-%s-strict.json" % c)):
        j = json.load(open("%s/%s" % (W, f)))
        sy = j["sides"]["synth"]
        print("  %-16s JSD flags a2b %.3f b2a %.3f, header bytes %.3f; handshake %.1f%% RST %.1f%% teardown %.1f%%" % (tag,
              j["jsd"]["tcp_flags_a2b"]["synth"], j["jsd"]["tcp_flags_b2a"]["synth"], j["header_byte_jsd"]["synth"]["mean"],
              100 * sy["handshake"], 100 * sy["rst"], 100 * sy["teardown"]))
PY
