#!/usr/bin/env bash
# Records the bundled example captures from REAL traffic on the loopback interface:
# HTTP (python3 http.server + curl), TLS (openssl s_server + curl), DNS (a tiny python
# responder + dig), SSH (a private sshd on a loopback port + ssh), ICMP echo (ping) and
# plain UDP, over IPv4 and IPv6. Only 127.0.0.1 and ::1 are ever used; every tcpdump runs
# with a filter on our own ports so other programs' loopback traffic is not recorded.
#
#   examples/record.sh [OUTDIR]      (default: examples/; needs root for tcpdump)
#
# Needs (Debian): tcpdump, tshark (editcap, mergecap), curl, openssl, dnsutils (dig),
# openssh-server + openssh-client (sshd, ssh, ssh-keygen), iputils-ping, python3.
# See examples/README.md for what each capture holds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"; out=$(cd "$out" && pwd)
py=/usr/bin/python3
for t in tcpdump editcap mergecap curl openssl dig ssh ssh-keygen ping $py; do
  command -v "$t" >/dev/null || { echo "record.sh: $t not found (see the header for packages)" >&2; exit 1; }
done
sshd=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$sshd" ] || { echo "record.sh: sshd not found (apt-get install openssh-server)" >&2; exit 1; }

# Ports chosen high and unusual so the capture filter only sees our own traffic.
P_HTTP=18080 P_HTTP6=18081 P_TLS=18443 P_DNS=15353 P_SSH=12222 P_UDP=19999
FILTER="(host 127.0.0.1 or host ::1) and (port $P_HTTP or port $P_HTTP6 or port $P_TLS or port $P_DNS or port $P_SSH or port $P_UDP or icmp or icmp6)"

work=$(mktemp -d /tmp/pktlm-record.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bg() { "$@" >>"$work/servers.log" 2>&1 & pids+=($!); }
wait_port() { # proto port: wait until something listens
  for _ in $(seq 100); do
    if ss -H -l -n "-$1" "sport = :$2" 2>/dev/null | grep -q .; then return 0; fi; sleep 0.05
  done; echo "record.sh: nothing listens on $1 port $2" >&2; return 1
}

# --- servers ----------------------------------------------------------------
mkdir -p "$work/www"
printf 'hello from pktlm\n' > "$work/www/index.html"
$py -c 'import sys; sys.stdout.write("".join("line %04d of a small text file served over HTTP\n" % i for i in range(200)))' > "$work/www/notes.txt"
bg $py -m http.server $P_HTTP --bind 127.0.0.1 --directory "$work/www"
bg $py -m http.server $P_HTTP6 --bind ::1 --directory "$work/www"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
bg openssl s_server -accept 127.0.0.1:$P_TLS -cert "$work/tls.crt" -key "$work/tls.key" -www -quiet

# DNS: answers every A query with 127.0.0.53 and every AAAA query with ::1 (loopback only).
cat > "$work/dns.py" <<'EOF'
import select, socket, struct, sys
port = int(sys.argv[1])
socks = []
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((addr, port)); socks.append(s)
while True:
    for s in select.select(socks, [], [])[0]:
        q, peer = s.recvfrom(512)
        if len(q) < 12: continue
        i = 12
        while i < len(q) and q[i]: i += q[i] + 1
        qtype = struct.unpack("!H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
        question = q[12:i + 5]
        if qtype == 1: rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_pton(socket.AF_INET, "127.0.0.53")
        elif qtype == 28: rr = struct.pack("!HHHIH", 0xC00C, 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, "::1")
        else: rr = b""
        hdr = q[:2] + struct.pack("!HHHHH", 0x8180 if rr else 0x8183, 1, 1 if rr else 0, 0, 0)
        s.sendto(hdr + question + rr, peer)
EOF
bg $py "$work/dns.py" $P_DNS

# UDP echo (plain datagrams, no application protocol).
cat > "$work/udp.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))  # v4-mapped: receives 127.0.0.1 and ::1 (loopback traffic only is sent)
while True:
    d, peer = s.recvfrom(65535); s.sendto(d[::-1], peer)
EOF
bg $py "$work/udp.py" $P_UDP

# SSH: a private sshd on a loopback port with its own host key and authorized key.
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
cat > "$work/sshd_config" <<EOF
ListenAddress 127.0.0.1:$P_SSH
ListenAddress [::1]:$P_SSH
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PidFile $work/sshd.pid
EOF
bg "$sshd" -D -e -f "$work/sshd_config"
SSH=(ssh -q -i "$work/user_key" -p $P_SSH -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes)

wait_port t $P_HTTP; wait_port t $P_HTTP6; wait_port t $P_TLS; wait_port u $P_DNS
wait_port u $P_UDP; wait_port t $P_SSH

# --- capture helpers ----------------------------------------------------------
cap_start() { # file, tcpdump options...: start tcpdump and wait until it listens
  local f=$1; shift
  : > "$work/tcpdump.err"
  tcpdump -U -n --immediate-mode "$@" -w "$f" "$FILTER" 2>"$work/tcpdump.err" & cap_pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$work/tcpdump.err" && break; sleep 0.05; done
  sleep 0.2
}
cap_stop() { sleep 0.3; kill -INT "$cap_pid"; wait "$cap_pid" || true; grep 'captured' "$work/tcpdump.err" >&2 || true; }
udp_send() { # host, count: datagrams from a fixed source port, wait for each echo
  $py - "$1" $P_UDP "$2" <<'EOF'
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2)
for i in range(n):
    s.sendto(("pktlm example datagram %d " % i).encode() * (1 + i % 4), (host, port)); s.recvfrom(65535)
EOF
}

# --- 1. HTTP + TLS on lo (Ethernet link type, microsecond pcap) ----------------
echo "recording http_tls.pcap" >&2
cap_start "$work/http_tls.pcap" -i lo
curl -s -o /dev/null http://127.0.0.1:$P_HTTP/
curl -s -o /dev/null http://127.0.0.1:$P_HTTP/notes.txt
curl -s -o /dev/null -g "http://[::1]:$P_HTTP6/index.html"
curl -s -o /dev/null http://127.0.0.1:$P_HTTP/missing
curl -sk -o /dev/null https://127.0.0.1:$P_TLS/
curl -sk -o /dev/null --tls-max 1.2 https://127.0.0.1:$P_TLS/
cap_stop

# --- 2. DNS, ICMP, UDP on lo (Ethernet link type, nanosecond pcap) --------------
echo "recording dns_icmp_udp_ns.pcap" >&2
cap_start "$work/dns_icmp_udp_ns.pcap" -i lo --time-stamp-precision=nano
dig +short +tries=1 +time=2 @127.0.0.1 -p $P_DNS example.pktlm.test A >/dev/null
dig +short +tries=1 +time=2 @127.0.0.1 -p $P_DNS example.pktlm.test AAAA >/dev/null
dig +short +tries=1 +time=2 @::1 -p $P_DNS www.pktlm.test A >/dev/null
dig +short +tries=1 +time=2 @127.0.0.1 -p $P_DNS nothing.pktlm.test TXT >/dev/null
ping -q -c 3 -i 0.2 127.0.0.1 >/dev/null
ping -q -6 -c 3 -i 0.2 ::1 >/dev/null
udp_send 127.0.0.1 5
udp_send ::1 3
cap_stop

# --- 3. SSH on the "any" device (Linux cooked v2, SLL2) ------------------------
echo "recording ssh_sll2.pcap" >&2
cap_start "$work/ssh_sll2.pcap" -i any
"${SSH[@]}" root@127.0.0.1 'echo pktlm example over ssh' >/dev/null
"${SSH[@]}" root@::1 'uname -s' >/dev/null
cap_stop

# --- 4. a bit of everything on "any" as Linux cooked v1 (SLL), then pcapng ------
echo "recording mixed_sll.pcapng" >&2
cap_start "$work/mixed_sll.pcap" -i any -y LINUX_SLL
curl -s -o /dev/null http://127.0.0.1:$P_HTTP/index.html
dig +short +tries=1 +time=2 @127.0.0.1 -p $P_DNS mixed.pktlm.test A >/dev/null
ping -q -c 2 -i 0.2 127.0.0.1 >/dev/null
udp_send 127.0.0.1 2
curl -sk -o /dev/null https://127.0.0.1:$P_TLS/
cap_stop

# --- conversions: pcapng copies and one pcapng with two interfaces --------------
cp "$work/http_tls.pcap" "$work/dns_icmp_udp_ns.pcap" "$work/ssh_sll2.pcap" "$out/"
editcap -F pcapng "$work/mixed_sll.pcap" "$out/mixed_sll.pcapng"
editcap -F pcapng "$work/dns_icmp_udp_ns.pcap" "$out/dns_icmp_udp_ns.pcapng"
# Two interface description blocks with different link types (Ethernet and SLL2),
# packets interleaved by time.
mergecap -F pcapng -w "$out/http_ssh_2if.pcapng" "$work/http_tls.pcap" "$work/ssh_sll2.pcap"
chmod 644 "$out"/*.pcap "$out"/*.pcapng
ls -l "$out"/*.pcap "$out"/*.pcapng >&2
