# The portable binary (make portable; src/cli/portable/dispatch.c): it names the copy it runs,
# PKTLM_CPU forces a copy and refuses a wrong name, and every copy the CPU can run does the
# whole job (prep -> pretrain -> generate -> a valid pcap) and writes the same corpus, byte for
# byte, as the native build (corpus writing is integer code: no copy may change it).
# The whole suite also runs on its AVX2 copy: tests/run.sh port.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
root=$(cd "$(dirname "$0")/.." && pwd)
P=$root/pktlm-portable
if [ ! -x "$P" ] || [ "${PKTLM_SAN:-0}" = 1 ]; then skip portable "no ./pktlm-portable (make portable), or the sanitizer run"; exit 0; fi
N=$root/pktlm
levels="generic"
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && levels="$levels avx2"
grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && levels="$levels avx512"
best=${levels##* }
v=$(env -u PKTLM_CPU "$P" --version | sed -n 's/^code: //p')
case $v in "$best "*) ok portable_picks_best ;; *) bad portable_picks_best "chose '$v', the CPU's best is $best" ;; esac
PKTLM_CPU=sse9 "$P" --version > /dev/null 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q "expected avx512, avx2 or generic" "$T/err" && ok portable_refuses_unknown || bad portable_refuses_unknown "rc $rc: $(cat "$T/err")"
capture "$T/in.pcap" 7
"$N" prep "$T/in.pcap" -o "$T/native" > /dev/null 2>&1 || bad portable_native_prep "native prep failed"
for l in $levels; do
  c=$T/c_$l
  if PKTLM_CPU=$l "$P" prep "$T/in.pcap" -o "$c" > "$T/$l.log" 2>&1 &&
     PKTLM_CPU=$l "$P" pretrain --data "$c" --layers 1 --d-model 16 --heads 2 --ctx 64 --batch 2 --steps 3 --threads 2 --quiet -o "$T/$l.ckpt" >> "$T/$l.log" 2>&1 &&
     PKTLM_CPU=$l "$P" generate --model "$T/$l.ckpt" -o "$T/$l.pcap" --flows 3 --seed 1 >> "$T/$l.log" 2>&1 &&
     "$N" stats "$T/$l.pcap" > /dev/null 2>> "$T/$l.log"; then
    ok "portable_${l}_job"
  else bad "portable_${l}_job" "$(tail -3 "$T/$l.log")"; fi
  same=1
  for f in train.tok val.tok test.tok vocab.json; do cmp -s "$T/native/$f" "$c/$f" || same=0; done
  [ $same = 1 ] && ok "portable_${l}_same_corpus" || bad "portable_${l}_same_corpus" "the $l copy wrote another corpus than the native build"
done
