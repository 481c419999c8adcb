# The bundled example (examples/*.pcap*, recorded by examples/record.sh) through `pktlm stats`:
# every file reads without error and the summary shows what examples/README.md promises.
# Counts are lower bounds so a re-recording (a few packets more or less) still passes.
source tests/cli.sh
out=$("$PKTLM" stats --json examples/*.pcap examples/*.pcapng 2>"$PKTLM_TMP/err"); rc=$?
num() { # json key -> its number (top level or inside "flows")
  grep -o "\"$1\": *[0-9]*" <<<"$out" | head -1 | grep -o '[0-9]*$'
}
check examples_read_ok test "$rc" -eq 0
check examples_files test "$(num files)" -eq 6
check examples_no_errors test "$(num files_with_errors)" -eq 0
check examples_no_malformed test "$(num malformed_packets)" -eq 0
for lt in '"ether"' '"linux-sll"' '"linux-sll2"' '"pcap"' '"pcap-ns"' '"pcapng"'; do
  check "examples_has_$(tr -d '"' <<<"$lt")" grep -q "$lt" <<<"$out"
done
check examples_packets test "$(num packets)" -ge 400
check examples_ipv6 test "$(num ipv6_packets)" -ge 50
check examples_tcp_flows test "$(num tcp)" -ge 16
check examples_tcp_handshakes test "$(num tcp_handshake)" -ge 16
check examples_udp_flows test "$(num udp)" -ge 10
check examples_icmp_flows test "$(num icmp)" -ge 1
check examples_icmpv6_flows test "$(num icmpv6)" -ge 1
