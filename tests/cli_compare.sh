# pktlm compare on real data: two disjoint halves of requet/ (real vs real, the floor).
source "$(dirname "$0")/cli.sh"
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
