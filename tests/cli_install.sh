# make install / make uninstall into a temporary DESTDIR: the binary, the man page, the bash
# completion, and the library with its header and pkg-config file, which a tiny program
# outside the tree compiles and links against.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
if [ "${PKTLM_SAN:-0}" != 0 ] || [ "$(basename "$PKTLM")" != pktlm ]; then skip install "installs the release build: run once, in the release suite"; exit 0; fi
command -v make >/dev/null || { skip install "make not installed"; exit 0; }
D=$T/root P=/opt/pktlm-test
make -s install DESTDIR="$D" PREFIX=$P >"$T/make.out" 2>&1; check install_exit test $? -eq 0
for f in bin/pktlm lib/libpktlm.a lib/pkgconfig/pktlm.pc include/pktlm/pktlm.h include/pktlm/capture/capture.h \
         share/man/man1/pktlm.1 share/bash-completion/completions/pktlm; do
  [ -s "$D$P/$f" ] || missing="${missing:-} $f"
done
[ -z "${missing:-}" ] && ok install_files || bad install_files "missing:$missing"
"$D$P/bin/pktlm" --version | grep -q '^pktlm '; check installed_binary_runs test $? -eq 0
cmp -s "$D$P/share/man/man1/pktlm.1" <("$D$P/bin/pktlm" --man); check installed_man_is_generated test $? -eq 0
grep -q "^prefix=$P$" "$D$P/lib/pkgconfig/pktlm.pc"; check pc_prefix test $? -eq 0

# a program that only knows the installed files: count the packets of a capture
cat >"$T/count.c" <<'EOF'
#include <pktlm.h>
#include <stdio.h>
int main(int argc, char **argv) {
    cap_reader r;
    cap_pkt p;
    unsigned long n = 0;
    if (argc < 2 || cap_open(&r, argv[1]) != 0) { fprintf(stderr, "cannot open\n"); return 1; }
    while (cap_next(&r, &p) == 1) n++;
    cap_close(&r);
    printf("%lu\n", n);
    return 0;
}
EOF
if command -v pkg-config >/dev/null; then
  export PKG_CONFIG_PATH=$D$P/lib/pkgconfig
  flags=$(pkg-config --cflags --libs pktlm 2>"$T/pc.err")
  check pkg_config_reads_pc test -n "$flags"
  # the .pc names the real prefix; the staged tree stands in for it here
  flags=${flags//$P/$D$P}
  ${CC:-cc} -std=c11 -Wall -Wextra -o "$T/count" "$T/count.c" $flags 2>"$T/cc.err"; rc=$?
  [ $rc -eq 0 ] && ok compile_against_installed || bad compile_against_installed "$(head -20 "$T/cc.err")"
  want=$("$PKTLM" stats --json examples/http_tls.pcap | sed -n 's/^ *"packets": \([0-9]*\),$/\1/p')
  got=$("$T/count" examples/http_tls.pcap)
  [ -n "$want" ] && [ "$got" = "$want" ] && ok installed_library_works || bad installed_library_works "got '$got', stats says '$want'"
else
  skip compile_against_installed "pkg-config not installed (tools/install-deps.sh installs pkgconf)"
fi

make -s uninstall DESTDIR="$D" PREFIX=$P >"$T/make.out" 2>&1; check uninstall_exit test $? -eq 0
left=$(find "$D" -type f)
[ -z "$left" ] && ok uninstall_removes_all || bad uninstall_removes_all "$left"
