# pktlm export for the seed systems, read back by small readers that do what the seeds' own code
# does (tests/interop/uer_reader.py: UER-py's vocabulary, TSV reader and tokenizer, as NetGPT /
# ET-BERT use them; tests/interop/netssm_reader.py: NetSSM's JSONL dataset and tokenizer
# loading, and the Ethernet parse of every packet). On a corpus made here from examples/ and
# from cli.sh's captures, and, when ../shared is there, on every data set of ../shared/data.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
if ! command -v python3 >/dev/null; then skip interop "no python3 (tools/install-deps.sh installs it)"; exit 0; fi
UER="python3 tests/interop/uer_reader.py"
NSM="python3 tests/interop/netssm_reader.py"
run() { # name, command...: PASS when it exits 0, else FAIL with its last lines
  local name=$1; shift
  if "$@" >"$T/$name.out" 2>&1; then ok "$name"; else bad "$name" "$(tail -5 "$T/$name.out")"; fi
}

# labels that are no single word, and two that clash once made one ("a b", "a_b")
mkdir -p "$T/in/web|Match by port" "$T/in/a b" "$T/in/a_b" "$T/in/mixed" "$T/in/udp"
cp examples/http_tls.pcap "$T/in/web|Match by port/"
cp examples/ssh_sll2.pcap "$T/in/a b/"
cp examples/dns_icmp_udp_ns.pcap "$T/in/a_b/"
cp examples/mixed_sll.pcapng "$T/in/mixed/"
capture "$T/in/udp/one.pcap" 1
capture "$T/in/udp/two.pcap" 2
"$PKTLM" prep "$T/in" -o "$T/c" -q || bad prep

# NetGPT / UER
"$PKTLM" export "$T/c" --format netgpt -o "$T/g" >"$T/g.txt" 2>"$T/g.err" && ok netgpt_export || bad netgpt_export "$(cat "$T/g.err")"
run netgpt_uer_reads $UER "$T/g"
grep -q 'longer than 128 tokens.*p50 [0-9]*, p90 [0-9]*, p99 [0-9]*, max [0-9]*' "$T/g.err" && ok netgpt_length_warning || bad netgpt_length_warning "$(cat "$T/g.err")"
# --packets 5 by default: more packets than rows, at most 5 a row; --packets 1: one a row
r=$(awk '$1=="train" && $3=="rows,"{print $2, $4}' "$T/g.txt")
set -- $r; [ -n "$r" ] && [ "$2" -gt "$1" ] && [ "$2" -le $(( 5 * $1 )) ] && ok netgpt_packets_default_5 || bad netgpt_packets_default_5 "$r"
"$PKTLM" export "$T/c" --format netgpt --packets 1 -o "$T/g1" >"$T/g1.txt" 2>/dev/null
r=$(awk '$1=="train" && $3=="rows,"{print $2, $4}' "$T/g1.txt"); set -- $r
[ -n "$r" ] && [ "$1" = "$2" ] && ok netgpt_packets_1 || bad netgpt_packets_1 "$r"
# labels numbered by what train has, mapped back in labels.txt
grep -qP '^\d+\tweb\|Match by port$' "$T/g/labels.txt" && ok netgpt_labels_txt || bad netgpt_labels_txt "$(cat "$T/g/labels.txt")"
# --ether: every packet from a synthetic Ethernet header (MAC words 0200 0000 ..., EtherType 0800/86dd)
"$PKTLM" export "$T/c" --format netgpt --ether -o "$T/ge" >/dev/null 2>&1
run netgpt_ether_uer_reads $UER "$T/ge"
awk -F'\t' 'NR>1{ if ($2 !~ /^0200 0000 0000 0000 000[12] 0[12]02 0200 0000 0000 0000 000[12] 0[12](08 0800 0045|86 86dd dd6)/) bad=1 } END{ exit bad }' "$T/ge/train_dataset.tsv" &&
  ok netgpt_ether_header || bad netgpt_ether_header "$(sed -n 2p "$T/ge/train_dataset.tsv" | cut -c1-120)"
# the pretraining corpus keeps the unlabelled sequences: only one capture labelled here
printf 'File,Label\nhttp_tls.pcap,web\n' > "$T/one.csv"
"$PKTLM" prep "$T/in" -o "$T/cu" --file-labels "$T/one.csv" -q
"$PKTLM" export "$T/cu" --format netgpt -o "$T/gu" >"$T/gu.txt" 2>/dev/null
run netgpt_unlabelled_uer_reads $UER "$T/gu"
seqs=$(awk '/\(pretraining\)/{print $5}' "$T/gu.txt"); rows=$(awk '$1=="train" && $3=="rows,"{print $2}' "$T/gu.txt")
[ -n "$seqs" ] && [ -n "$rows" ] && [ "$seqs" -gt "$rows" ] && grep -q 'unlabelled left out' "$T/gu.txt" &&
  ok netgpt_pretrain_keeps_unlabelled || bad netgpt_pretrain_keeps_unlabelled "$(cat "$T/gu.txt")"

# NetSSM
"$PKTLM" export "$T/c" --format netssm -o "$T/s" >"$T/s.txt" 2>&1 && ok netssm_export || bad netssm_export "$(cat "$T/s.txt")"
run netssm_reads $NSM "$T/s"
grep -q '"token": "<|web_Match_by_port|>", "id": [0-9]*, "label": "web|Match by port"' "$T/s/manifest.json" &&
  grep -q '"token": "<|a_b|>"' "$T/s/manifest.json" && grep -q '"token": "<|a_b_2|>"' "$T/s/manifest.json" &&
  ok netssm_safe_labels || bad netssm_safe_labels "$(grep token "$T/s/manifest.json")"
# one line per capture (and split): as many lines in all as (capture, split) pairs with 2+ TCP/UDP packets
lines=$(cat "$T"/s/*.jsonl | wc -l); caps=$(cat "$T"/s/*.jsonl | grep -o '"Filename":"[^"]*"' | sort | uniq -c | wc -l)
[ "$lines" -ge "$caps" ] && [ "$caps" -eq 6 ] && ok netssm_line_per_capture || bad netssm_line_per_capture "$lines lines, $caps captures"
# whole captures, not anonymised: the bytes NetSSM's own preprocessor keeps of each frame
"$PKTLM" prep "$T/in/web|Match by port" "$T/in/a_b" -o "$T/cr" --unit capture --split capture --no-anon --keep-dhcp -q
# a stale file of a split that is empty now is removed
echo stale > "$T/sr-val.jsonl"; mkdir -p "$T/sr"; cp "$T/sr-val.jsonl" "$T/sr/val.jsonl"; cp "$T/sr-val.jsonl" "$T/sr/test.jsonl"
"$PKTLM" export "$T/cr" --format netssm -o "$T/sr" >"$T/sr.txt" 2>&1
run netssm_bytes_as_netssm $NSM "$T/sr" --frames-of "$T/in/web|Match by port/http_tls.pcap" "$T/in/a_b/dns_icmp_udp_ns.pcap"
n=$(ls "$T"/sr/*.jsonl | wc -l)
[ "$n" -ge 1 ] && [ "$n" -lt 3 ] && grep -q 'not written, the old one removed' "$T/sr.txt" && ok no_empty_split_files || bad no_empty_split_files "$(cat "$T/sr.txt")"
"$PKTLM" export "$T/cr" --format netgpt -o "$T/gr" >"$T/gr.txt" 2>&1
n=$(ls "$T"/gr/*_dataset.tsv | wc -l)
[ "$n" -ge 1 ] && [ "$n" -lt 3 ] && grep -q 'not written' "$T/gr.txt" && ok netgpt_no_empty_split_files || bad netgpt_no_empty_split_files "$(cat "$T/gr.txt")"
run netgpt_split_capture_uer_reads $UER "$T/gr"
"$PKTLM" export "$T/c" --format netssm --ether -o "$T/x" >/dev/null 2>&1; [ $? -eq 2 ] && ok ether_only_netgpt || bad ether_only_netgpt

# ../shared/data: every data set, in the release build only (the readers take seconds)
if [ -z "${PKTLM_SHARED:-}" ]; then skip shared_data "no ../shared/data"; exit 0; fi
if [ "${PKTLM_SAN:-0}" = 1 ]; then skip shared_data "release build only"; exit 0; fi
D=$PKTLM_SHARED/data
both() { # name, prep args...: prep, export netgpt and netssm, read both back
  local name=$1; shift
  if ! "$PKTLM" prep "$@" -o "$T/$name" -q 2>"$T/$name.prep.err"; [ $? -gt 1 ]; then bad "${name}_prep" "$(tail -3 "$T/$name.prep.err")"; return; fi
  "$PKTLM" export "$T/$name" --format netgpt -o "$T/$name.g" >/dev/null 2>&1 && run "${name}_netgpt_uer_reads" $UER "$T/$name.g" || bad "${name}_netgpt_export"
  "$PKTLM" export "$T/$name" --format netssm -o "$T/$name.s" >/dev/null 2>&1 && run "${name}_netssm_reads" $NSM "$T/$name.s" || bad "${name}_netssm_export"
}
both netssm_examples "$D/netssm_examples" --file-labels "$D/netssm_examples/labels.csv"
both netssm_examples_capture "$D/netssm_examples" --file-labels "$D/netssm_examples/labels.csv" --unit capture --split capture
both iot_sentinel "$D/iot_sentinel"
both ndpi_upstream "$D/ndpi" --flow-labels "$D/labels/flows.csv:ndpi_upstream"
both requet "$D/requet"
both tls2 "$D/generation/tls2.pcap"
# NetSSM's example captures as NetSSM's preprocessor writes them: 4 lines of 40..172 packets, the same bytes
"$PKTLM" prep "$D/netssm_examples" --file-labels "$D/netssm_examples/labels.csv" --unit capture --split capture --no-anon --keep-dhcp -o "$T/nsr" -q
"$PKTLM" export "$T/nsr" --format netssm -o "$T/nsr.s" >/dev/null 2>&1
run netssm_examples_as_netssm $NSM "$T/nsr.s" --frames-of "$D"/netssm_examples/*.pcap
[ "$(cat "$T"/nsr.s/*.jsonl | wc -l)" -eq 4 ] && ok netssm_examples_4_lines || bad netssm_examples_4_lines
