# The job tools/setup.sh runs (examples/run.sh) end to end, on the bundled captures: every
# stage must succeed, and the generated pcap must be valid by pktlm compare's own checks (and
# by tshark's validate-pcap where ../shared has it).
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
out=$T/example
# under ASan+UBSan a shorter pretraining (the same code paths, a quarter of the time)
steps=300; [ "${PKTLM_SAN:-0}" = 1 ] && steps=40
if PKTLM=$PKTLM EXAMPLES_OUT=$out EXAMPLES_STEPS=$steps bash examples/run.sh > "$T/run.log" 2>&1; then ok main_job_runs; else bad main_job_runs "$(tail -5 "$T/run.log")"; fi
missing=""
for f in flows.csv corpus/manifest.json model.ckpt model.csv model.svg decoded/train.pcap generated.pcap compare.html compare.txt compare.json; do
  [ -s "$out/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] && ok main_job_outputs || bad main_job_outputs "missing or empty:$missing"
v=$(python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))['sides']['synth']
print(s['frames_parse'], s['lengths_consistent'], s['checksums_valid'], s['checksums_checkable'], s['seq_continuity'], s['ack_continuity'])" "$out/compare.json" 2>&1)
[ "$v" = "1 1 1 1 1 1" ] && ok main_job_generated_valid || bad main_job_generated_valid "parse, lengths, checksums valid/checkable, seq, ack: $v"
vp=${PKTLM_SHARED:+$PKTLM_SHARED/tools/validate-pcap/validate_pcap.sh}
if [ -n "$vp" ] && [ -f "$vp" ] && command -v tshark > /dev/null; then
  bash "$vp" "$out/generated.pcap" > "$T/validate.log" 2>&1 && ok main_job_validate_pcap || bad main_job_validate_pcap "$(tail -3 "$T/validate.log")"
else skip main_job_validate_pcap "no ../shared/tools/validate-pcap or tshark"; fi
