# pktlm prep / export from the command line, on a raw-IP capture written here by printf.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP

mkdir -p "$T/in/alpha" "$T/in/beta"
capture "$T/in/alpha/one.pcap" 1
capture "$T/in/alpha/two.pcap" 2
capture "$T/in/beta/three.pcap" 3

"$PKTLM" prep --help >/dev/null && ok help || bad help
"$PKTLM" prep >/dev/null 2>&1; [ $? -eq 2 ] && ok usage_exit_2 || bad usage_exit_2
"$PKTLM" prep "$T/in" -o "$T/x" --unit nope >/dev/null 2>&1; [ $? -eq 2 ] && ok bad_unit_exit_2 || bad bad_unit_exit_2
"$PKTLM" prep "$T/in" -o "$T/x" --unit capture --split flow >/dev/null 2>&1; [ $? -eq 2 ] && ok capture_unit_needs_capture_split || bad capture_unit_needs_capture_split

if "$PKTLM" prep "$T/in" -o "$T/c1" > "$T/out1.txt" 2>"$T/err1.txt"; then ok prep_runs; else bad prep_runs "$(cat "$T/err1.txt")"; fi
for f in train.tok val.tok test.tok vocab.json labels.txt manifest.json; do
  [ -s "$T/c1/$f" ] || [ "$f" = val.tok ] || bad "file_$f" missing
done
grep -q '^flows  *36, kept 36' "$T/out1.txt" && ok summary_counts || bad summary_counts "$(cat "$T/out1.txt")"
[ "$(cat "$T/c1/labels.txt")" = "$(printf 'alpha\nbeta')" ] && ok labels_from_folders || bad labels_from_folders
grep -q '"sha256": "[0-9a-f]\{64\}"' "$T/c1/manifest.json" && ok manifest_hashes || bad manifest_hashes

# determinism: the same command again gives the same bytes
mv "$T/c1" "$T/c1a"
"$PKTLM" prep "$T/in" -o "$T/c1" >/dev/null 2>&1
same=1; for f in train.tok val.tok test.tok vocab.json labels.txt manifest.json; do cmp -s "$T/c1/$f" "$T/c1a/$f" || same=0; done
[ $same -eq 1 ] && ok deterministic || bad deterministic

# blanket label and file-label CSV
"$PKTLM" prep "$T/in" -o "$T/c2" --label web -q && [ "$(cat "$T/c2/labels.txt")" = web ] && ok blanket_label || bad blanket_label
printf 'File,Label\none.pcap,x\nthree.pcap,y\n' > "$T/files.csv"
"$PKTLM" prep "$T/in" -o "$T/c3" --file-labels "$T/files.csv" -q && grep -q '"(unlabelled)": ' "$T/c3/manifest.json" && ok file_labels_csv || bad file_labels_csv

# exports
"$PKTLM" export "$T/c1" --format netgpt -o "$T/eg" >/dev/null && [ "$(wc -l < "$T/eg/vocab.txt")" -eq 65541 ] &&
  [ "$(head -1 "$T/eg/train_dataset.tsv")" = "$(printf 'label\ttext_a')" ] && ok export_netgpt || bad export_netgpt
"$PKTLM" export "$T/c1" --format netssm -o "$T/es" >/dev/null && grep -q '^{"Data":"<|alpha|> 2 0 0 0 0 2 2 0 0 0 0 1 8 0 69 ' "$T/es/train.jsonl" && ok export_netssm || bad export_netssm
"$PKTLM" export "$T/c1" --format pcap -o "$T/ep" >/dev/null && "$PKTLM" stats --flows "$T/ep/flows.csv" "$T/ep/train.pcap" >/dev/null && ok export_pcap || bad export_pcap
# anonymised: no original client address in the decoded packets nor in the hex text
if grep -q ',10\.77\.\|,172\.16\.9\.' "$T/ep/flows.csv" || grep -q '0a4d 4d0[123]' "$T/eg/train_dataset.tsv"; then bad no_original_addresses; else ok no_original_addresses; fi
"$PKTLM" prep "$T/in" -o "$T/c4" --no-anon -q && "$PKTLM" export "$T/c4" --format pcap -o "$T/ep4" >/dev/null &&
  "$PKTLM" stats --flows "$T/ep4/flows.csv" "$T/ep4/train.pcap" >/dev/null && grep -q ',10\.77\.' "$T/ep4/flows.csv" && ok no_anon_keeps_addresses || bad no_anon_keeps_addresses

# the decoded, anonymised packets pass the project's external validator (tshark)
V=${PKTLM_SHARED:+$PKTLM_SHARED/tools/validate-pcap/validate_pcap.sh}
if [ -n "$V" ] && [ -f "$V" ] && command -v tshark >/dev/null; then
  bash "$V" "$T/ep/train.pcap" > "$T/validate.txt" 2>&1 && ok decoded_pcap_validates || bad decoded_pcap_validates "$(tail -5 "$T/validate.txt")"
else
  skip decoded_pcap_validates "../shared/tools/validate-pcap or tshark absent"
fi
