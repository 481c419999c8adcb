# pktlm stats end to end on the bundled examples and on broken input.
. tests/cli.sh
T=$PKTLM_TMP
ex=(examples/*.pcap examples/*.pcapng)

"$PKTLM" stats --help | grep -q -- '--flows' && ok stats_help || bad stats_help
"$PKTLM" stats >/dev/null 2>&1; [ $? -eq 2 ] && ok stats_usage_exit_2 || bad stats_usage_exit_2

if "$PKTLM" stats --json --flows "$T/flows.csv" "${ex[@]}" > "$T/s.json" 2> "$T/err"; then
  total=$(grep -o '"total": [0-9]*' "$T/s.json" | grep -o '[0-9]*')
  rows=$(($(wc -l < "$T/flows.csv") - 1))
  [ -n "$total" ] && [ "$total" -gt 0 ] && [ "$rows" -eq "$total" ] && ok stats_flows_csv_rows_match_summary || bad stats_flows_csv_rows_match_summary "total=$total rows=$rows"
  head -1 "$T/flows.csv" | grep -q '^file,flow_id,proto,a_ip,a_port,b_ip,b_port,start,duration' && ok stats_csv_header || bad stats_csv_header
  grep -q '"pcapng": ' "$T/s.json" && grep -q '"linux-sll2": ' "$T/s.json" && ok stats_json_formats_linktypes || bad stats_json_formats_linktypes
  # every TCP flow of the loopback recordings completed its handshake
  awk -F, 'NR>1 && $3==6 && $14!=1 {bad=1} END {exit bad}' "$T/flows.csv" && ok stats_tcp_handshakes || bad stats_tcp_handshakes
else
  bad stats_examples "$(cat "$T/err")"
fi

# a directory walk takes captures only and reads the same packets
mkdir -p "$T/tree/a/b"; cp examples/*.pcap "$T/tree/a/"; cp examples/*.pcapng "$T/tree/a/b/"; cp examples/README.md "$T/tree/"
"$PKTLM" stats --json "$T/tree" > "$T/d.json" 2>/dev/null
[ "$(grep '"packets"' "$T/d.json")" = "$(grep '"packets"' "$T/s.json")" ] && ok stats_directory_walk || bad stats_directory_walk

# a truncated capture: exit 1, error names file and offset, packets before it counted
f=${ex[0]}; n=$(($(stat -c %s "$f") - 7))
head -c "$n" "$f" > "$T/cut.pcap"
"$PKTLM" stats --json "$T/cut.pcap" > "$T/c.json" 2> "$T/c.err"; rc=$?
[ $rc -eq 1 ] && grep -q "cut.pcap: truncated record.*at byte offset [0-9]" "$T/c.err" && ok stats_truncated_error || bad stats_truncated_error "rc=$rc $(cat "$T/c.err")"
p=$(grep -o '"packets": [0-9]*' "$T/c.json" | grep -o '[0-9]*')
[ -n "$p" ] && [ "$p" -gt 0 ] && ok stats_truncated_keeps_packets || bad stats_truncated_keeps_packets

# garbage and empty files
printf 'definitely not a capture' > "$T/g.pcap"; : > "$T/e.pcap"
"$PKTLM" stats "$T/g.pcap" "$T/e.pcap" > /dev/null 2> "$T/g.err"
grep -q "g.pcap: not a pcap or pcapng file" "$T/g.err" && grep -q "e.pcap: empty file" "$T/g.err" && ok stats_garbage_empty || bad stats_garbage_empty "$(cat "$T/g.err")"

# standard input
cat "$f" | "$PKTLM" stats --json - | grep -q '"packets": [1-9]' && ok stats_stdin || bad stats_stdin

# an empty folder: a clear error, exit 1 (no crash: the sanitizer run checks the walk)
mkdir -p "$T/empty"
"$PKTLM" stats "$T/empty" > /dev/null 2> "$T/empty.err"; rc=$?
[ $rc -eq 1 ] && grep -q "no capture files found" "$T/empty.err" && ok stats_empty_folder || bad stats_empty_folder "rc=$rc $(cat "$T/empty.err")"
