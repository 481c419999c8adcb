# python/pktlm.py, the plain python3 + numpy reader of corpora and classify output, against
# corpora that `pktlm prep` makes from examples/ (shard version 2, 2- and 4-byte ids) and the
# committed version-1 corpus; its errors against pktlm's own; classify --json rows. Skips
# cleanly without a python3 that has numpy (CI's Debian has python3-numpy only when asked).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
PY=""
for p in python3 /usr/bin/python3; do
  if command -v $p >/dev/null 2>&1 && $p -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then skip python_reader "no python3 with numpy"; exit 0; fi
export PYTHONPATH=$PWD/python

printf 'File,Label\nhttp_tls.pcap,web\nmixed_sll.pcapng,mixed\ndns_icmp_udp_ns.pcap,dns\nssh_sll2.pcap,ssh\n' >$T/labels.csv
ex="examples/http_tls.pcap examples/mixed_sll.pcapng examples/dns_icmp_udp_ns.pcap examples/ssh_sll2.pcap"
$PKTLM prep $ex --file-labels $T/labels.csv --ratio 3:1:1 -o $T/c -q
check python_prep_bytes test -s $T/c/train.tok
$PKTLM prep $ex --file-labels $T/labels.csv --ratio 3:1:1 --tokens bigrams -o $T/cb -q
check python_prep_bigrams test -s $T/cb/train.tok

# every split read back: the counts prep wrote in its manifest (from its own memory, not from
# the shard), contiguous sequences, each one bos .. eos with its label token at index 1
cat >$T/check.py <<'EOF'
import sys, numpy as np, pktlm
c = pktlm.Corpus(sys.argv[1])
want_ids = int(sys.argv[2])
bad = []
for name in ("train", "val", "test"):
    s = c.split(name)
    m = c.manifest["splits"][name] if c.manifest else None
    if s.id_bytes != want_ids: bad.append("%s: %d-byte ids, expected %d" % (name, s.id_bytes, want_ids))
    if m is not None:
        if (len(s), s.n_tokens) != (m["sequences"], m["tokens"]): bad.append("%s: counts %d %d vs manifest %s" % (name, len(s), s.n_tokens, m))
        got = {}
        for l in s.labels[s.labels >= 0]: got[c.label_names[l]] = got.get(c.label_names[l], 0) + 1
        if got != m["labels"]: bad.append("%s: labels %s vs manifest %s" % (name, got, m["labels"]))
    ix = s.index
    if len(s) and (ix["off"][0] != 0 or np.any(ix["off"][1:] != ix["off"][:-1] + ix["len"][:-1]) or ix["off"][-1] + ix["len"][-1] != s.n_tokens):
        bad.append("%s: sequences not contiguous" % name)
    unl = c.vocab["special"]["unlabelled"]
    for i in range(len(s)):
        t, y = s[i]
        lab = s.label_base + y if y >= 0 else unl
        if t[0] != s.bos_id or t[-1] != s.eos_id or t[1] != lab:
            bad.append("%s[%d]: %s... label %d" % (name, i, t[:3], y)); break
        if c.manifest and not 0 <= ix["file"][i] < len(c.manifest["inputs"]): bad.append("%s[%d]: file index" % (name, i)); break
    h = c.split(name, seq_len=8, hide_label=True, labelled_only=True)
    if len(h) and (h[0][0].shape != (8,) or h[0][0][1] != unl or h[0][1] < 0): bad.append("%s: hide_label/seq_len row %s" % (name, h[0]))
print("\n".join(bad) if bad else "ok %d %s" % (sum(len(c.split(n)) for n in ("train", "val", "test")), c.split("train").token_format))
EOF
out=$($PY $T/check.py $T/c 2); check python_reads_bytes_corpus test "${out%% *}" = ok || echo "  $out"
out=$($PY $T/check.py $T/cb 4); check python_reads_bigrams_corpus test "${out%% *}" = ok -a "${out##* }" = bigrams || echo "  $out"
out=$($PY $T/check.py tests/fixtures/v1_corpus 2); check python_reads_v1_corpus test "${out%% *}" = ok || echo "  $out"
out=$($PY -c 'import pktlm; s = pktlm.Corpus("tests/fixtures/v1_corpus").split("train"); print(s.version, s.token_format)')
check python_v1_header test "$out" = "1 bytes"

# tools/corpus_split_files.py (plain python3) reads version-2 shards and 4-byte ids too
n=$(python3 tools/corpus_split_files.py $T/cb train | grep -c '^examples/')
check corpus_split_files_v2 test "$n" -ge 1

# a damaged shard: the same message as pktlm's shard_load (file and byte offset)
cp -r $T/c $T/cut
head -c -7 $T/c/train.tok >$T/cut/train.tok
perr=$($PY -c 'import sys, pktlm
try: pktlm.Shard(sys.argv[1])
except pktlm.FormatError as e: print(e)' $T/cut/train.tok)
$PKTLM export $T/cut --format pcap -o $T/cut_out 2>$T/cut.err
check python_truncated_like_pktlm test -n "$perr" -a -n "$(grep -F "$perr" $T/cut.err)"
printf 'XXXX' | dd of=$T/cut/train.tok bs=1 seek=0 conv=notrunc 2>/dev/null
perr=$($PY -c 'import sys, pktlm
try: pktlm.Shard(sys.argv[1])
except pktlm.FormatError as e: print(e)' $T/cut/train.tok)
check python_bad_magic test "$perr" = "$T/cut/train.tok: not a pktlm token shard (bad magic at byte offset 0)"
# vocab.json of another corpus
cp $T/cb/vocab.json $T/cut/vocab.json
cp $T/c/train.tok $T/cut/train.tok
perr=$($PY -c 'import sys, pktlm
try: pktlm.Corpus(sys.argv[1]).split("train")
except pktlm.FormatError as e: print(e)' $T/cut)
check python_vocab_mismatch test -n "$(echo "$perr" | grep 'does not belong with the corpus')"

# classify --json rows, as many as classify --csv has
M="--layers 1 --d-model 16 --heads 2 --ctx 64 --batch 16 --threads 1"
$PKTLM prep tests/fixtures/toy_cls -o $T/toy -q
$PKTLM finetune --task classify --data $T/toy $M --epochs 1 -o $T/cls.ckpt --quiet
$PKTLM classify --model $T/cls.ckpt tests/fixtures/toy_cls/dns --json --quiet >$T/rows.json
$PKTLM classify --model $T/cls.ckpt tests/fixtures/toy_cls/dns --csv --quiet >$T/rows.csv
out=$($PY -c 'import sys, pktlm
r = pktlm.read_classify_json(sys.argv[1])
print(len(r), all(len(x["top3"]) >= 1 and x["top3"][0][0] == x["label"] for x in r), r[0]["file"])' $T/rows.json)
check python_classify_json test "$out" = "$(( $(wc -l <$T/rows.csv) - 1 )) True 0.pcap"
perr=$($PY -c 'import sys, pktlm
try: pktlm.read_classify_json("{\"file\": \"a\"}\n{oops\n")
except pktlm.FormatError as e: print(e)')
check python_classify_bad_row test -n "$(echo "$perr" | grep 'line 1: not a `pktlm classify --json` row')"

# the three lines of docs/python.md: a DataLoader of (tokens, labels) batches
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  out=$(/usr/bin/python3 -c 'import sys, pktlm, torch
train = pktlm.Corpus(sys.argv[1]).split("train", seq_len=128, hide_label=True, labelled_only=True)
loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)
tok, y = next(iter(loader))
print(tuple(tok.shape), tok.dtype, tuple(y.shape), int(y.min()) >= 0)' $T/toy)
  check python_torch_dataloader test "$out" = "(32, 128) torch.int64 (32,) True"
else
  skip python_torch_dataloader "no torch for /usr/bin/python3"
fi
