# pktlm compare on real data: two disjoint halves of requet/ (real vs real, the floor).
source "$(dirname "$0")/cli.sh"
# usage errors say what is wrong (exit 2); a folder without captures is an error (exit 1)
"$PKTLM" compare "$PKTLM_TMP" 2>"$PKTLM_TMP/e1"; rc=$?
check cli_compare_one_input test $rc -eq 2 -a -n "$(grep 'missing SYNTH' "$PKTLM_TMP/e1")"
"$PKTLM" compare a b --header-bytes 300 2>"$PKTLM_TMP/e2"; rc=$?
check cli_compare_bad_header_bytes test $rc -eq 2 -a -n "$(grep 'header-bytes' "$PKTLM_TMP/e2")"
mkdir -p "$PKTLM_TMP/empty1" "$PKTLM_TMP/empty2"
echo "not a capture" > "$PKTLM_TMP/empty1/README"; cp "$PKTLM_TMP/empty1/README" "$PKTLM_TMP/empty2/"
"$PKTLM" compare "$PKTLM_TMP/empty1" "$PKTLM_TMP/empty2" 2>"$PKTLM_TMP/e3"; rc=$?
check cli_compare_empty test $rc -eq 1 -a -n "$(grep 'REAL.*no capture files' "$PKTLM_TMP/e3")"
# --labels FILE.csv:COLUMN (prep's --file-labels CSV): rows match by path suffix, so two
# captures of one name in two folders get their own labels; a capture reached through a
# symbolic link of another name (s/p/one.pcap) is found by its real path
L=$PKTLM_TMP/lab; mkdir -p "$L/r/x" "$L/r/y" "$L/s/p" "$L/s/q"
cp examples/dns_icmp_udp_ns.pcap "$L/r/x/a.pcap"; cp examples/http_tls.pcap "$L/r/y/a.pcap"
ln -sf "$L/r/x/a.pcap" "$L/s/p/one.pcap"; ln -sf "$L/r/y/a.pcap" "$L/s/q/two.pcap"
printf 'path,class,note\nr/x/a.pcap,dns,1\nr/y/a.pcap,web,2\n' > "$L/l.csv"
"$PKTLM" compare "$L/r" "$L/s" --labels "$L/l.csv:class" --trees 5 --json "$L/o.json" >/dev/null 2>"$L/err"; rc=$?
if [ $rc -eq 0 ] && grep -q '"labels": \["dns", "web"\]' "$L/o.json" \
   && grep -q '"synth": {"n_train": 14, "n_test": 7,' "$L/o.json"; then ok cli_compare_labels_csv_column
else bad cli_compare_labels_csv_column "rc=$rc $(grep -A3 '"tstr"' "$L/o.json" | cut -c1-160)"; fi
"$PKTLM" compare "$L/r" "$L/s" --labels "$L/l.csv:nosuch" >/dev/null 2>"$L/e"; rc=$?
check cli_compare_labels_bad_column test $rc -eq 1 -a -n "$(grep "l.csv: no label column 'nosuch'" "$L/e")"
R=${PKTLM_SHARED:+$PKTLM_SHARED/data/requet}
if [ -z "$R" ] || [ ! -d "$R" ]; then skip cli_compare_requet_halves "no ../shared/data/requet"; exit 0; fi
mapfile -t files < <(find "$R" -name '*.pcap' | sort)
if [ ${#files[@]} -lt 2 ]; then skip cli_compare_requet_halves "fewer than 2 requet captures"; exit 0; fi
half=$(( ${#files[@]} / 2 ))
mkdir -p "$PKTLM_TMP/h1" "$PKTLM_TMP/h2"
for i in "${!files[@]}"; do
  if [ "$i" -lt "$half" ]; then ln -sf "${files[$i]}" "$PKTLM_TMP/h1/"; else ln -sf "${files[$i]}" "$PKTLM_TMP/h2/"; fi
done
out=$("$PKTLM" compare "$PKTLM_TMP/h1" "$PKTLM_TMP/h2" --trees 10 --json "$PKTLM_TMP/o.json" --html "$PKTLM_TMP/o.html" 2>"$PKTLM_TMP/err")
rc=$?
if [ $rc -eq 0 ] && grep -q '"baseline_source": "real_first_half"' "$PKTLM_TMP/o.json" && grep -q '<svg' "$PKTLM_TMP/o.html" \
   && grep -q 'checksums valid' <<<"$out"; then ok cli_compare_requet_halves; else bad cli_compare_requet_halves "rc=$rc $(tail -3 "$PKTLM_TMP/err")"; fi
# real vs itself: every distance is zero
"$PKTLM" compare "$PKTLM_TMP/h1" "$PKTLM_TMP/h1" --trees 5 --json "$PKTLM_TMP/self.json" >/dev/null 2>&1
if grep -q '"l4_proto": {"synth": 0,' "$PKTLM_TMP/self.json" && grep -q '"pkt_size_a2b": {"synth": 0,' "$PKTLM_TMP/self.json" \
   && grep -A1 '"synth": {"mean": 0,' "$PKTLM_TMP/self.json" >/dev/null; then ok cli_compare_self_zero; else bad cli_compare_self_zero "nonzero distance of a capture to itself"; fi
# concurrent flows over time: in the JSON (zero distance to itself), the text and the HTML
if grep -q '"concurrency": {"bin_s": 1,' "$PKTLM_TMP/self.json" && grep -q '"synth": {"captures": .*"emd": 0, "emd_flows": 0}' "$PKTLM_TMP/self.json" \
   && grep -q '^Concurrent flows' <<<"$out" && grep -q 'active flows over time' "$PKTLM_TMP/o.html"; then ok cli_compare_concurrency
else bad cli_compare_concurrency "$(grep -A2 concurrency "$PKTLM_TMP/self.json" | cut -c1-200)"; fi
# --json - : the JSON object on stdout instead of the text summary
"$PKTLM" compare "$PKTLM_TMP/h1" "$PKTLM_TMP/h2" --trees 5 --json - >"$PKTLM_TMP/stdout.json" 2>/dev/null
if head -c 1 "$PKTLM_TMP/stdout.json" | grep -q '{' && grep -q '"peak_rss_bytes"' "$PKTLM_TMP/stdout.json" \
   && ! grep -q 'Distances to REAL' "$PKTLM_TMP/stdout.json"; then ok cli_compare_json_stdout; else bad cli_compare_json_stdout "not JSON alone"; fi
