# pktlm prep --tokens bytes|fields|bigrams (docs/tokens.md): the manifest and vocab.json name the
# format, a model refuses a corpus of another format, and a field-token model generates a
# valid capture.
source "$(dirname "$0")/cli.sh"
T=$PKTLM_TMP
IN="examples/http_tls.pcap examples/http_ssh_2if.pcapng examples/dns_icmp_udp_ns.pcap"

"$PKTLM" prep $IN -o "$T/x" --tokens nope >/dev/null 2>&1; [ $? -eq 2 ] && ok bad_tokens_exit_2 || bad bad_tokens_exit_2
"$PKTLM" prep $IN -o "$T/x" --tokens fields --unit packet 2>"$T/e" >/dev/null; [ $? -eq 2 ] && grep -q 'needs --tokens bytes' "$T/e" &&
  ok fields_needs_flow_unit || bad fields_needs_flow_unit "$(cat "$T/e")"
"$PKTLM" prep $IN -o "$T/x" --complete-only 2>"$T/e" >/dev/null; [ $? -eq 2 ] && grep -q 'needs --tokens fields' "$T/e" &&
  ok complete_only_needs_fields || bad complete_only_needs_fields "$(cat "$T/e")"

for f in bytes fields bigrams; do
  "$PKTLM" prep $IN -o "$T/$f" --tokens $f --label web >"$T/$f.out" 2>&1 || bad "prep_$f" "$(cat "$T/$f.out")"
  grep -q "\"tokens\": \"$f\"" "$T/$f/manifest.json" && ok "manifest_$f" || bad "manifest_$f"
done
grep -q '"vocab_size": 65641' "$T/fields/vocab.json" && grep -q '"pad": 65545' "$T/fields/vocab.json" && ok vocab_fields || bad vocab_fields
grep -q '"vocab_size": 65544' "$T/bigrams/vocab.json" && grep -q '"bos": 2' "$T/bigrams/vocab.json" && ok vocab_bigrams || bad vocab_bigrams
# fields: TCP flows only (the DNS/ICMP/UDP capture's flows have no sequence)
grep -q 'tokens      fields: [1-9][0-9]* flows without a sequence (not TCP)' "$T/fields.out" && ok fields_tcp_only || bad fields_tcp_only "$(cat "$T/fields.out")"
"$PKTLM" prep $IN -o "$T/complete" --tokens fields --complete-only -q && grep -q '"complete_only": true' "$T/complete/manifest.json" &&
  ok complete_only || bad complete_only

# a model of one format refuses a corpus of another, naming both
"$PKTLM" pretrain --data "$T/fields" -o "$T/f.ckpt" --layers 1 --d-model 32 --heads 2 --ctx 128 --steps 6 --threads 2 --quiet >/dev/null 2>&1 &&
  ok pretrain_fields || bad pretrain_fields
# info names the token format of a checkpoint and of a corpus (each split's shard header)
"$PKTLM" info "$T/f.ckpt" 2>&1 | grep -q '^tokens       fields (' && ok info_ckpt_tokens || bad info_ckpt_tokens "$("$PKTLM" info "$T/f.ckpt" 2>&1)"
"$PKTLM" info --json "$T/f.ckpt" 2>&1 | grep -q '"token_format":"fields"' && ok info_ckpt_tokens_json || bad info_ckpt_tokens_json
"$PKTLM" info "$T/bigrams" >"$T/i" 2>&1 && grep -q '^train        bigrams tokens (.*vocabulary 65544, .* 4-byte ids' "$T/i" &&
  ok info_corpus_tokens || bad info_corpus_tokens "$(cat "$T/i")"
"$PKTLM" info --json "$T/fields" 2>&1 | python3 -c 'import json, sys; d = json.load(sys.stdin)["splits"]; sys.exit(0 if d["train"]["token_format"] == "fields" and d["train"]["vocab"] == 65641 else 1)' &&
  ok info_corpus_json || bad info_corpus_json
"$PKTLM" info "$T" >/dev/null 2>"$T/e"; [ $? -eq 1 ] && grep -q 'not a corpus' "$T/e" && ok info_not_corpus || bad info_not_corpus "$(cat "$T/e")"
"$PKTLM" finetune --task generate --init "$T/f.ckpt" --data "$T/bytes" -o "$T/g.ckpt" --steps 1 >/dev/null 2>"$T/e"
[ $? -ne 0 ] && grep -q "trained on 'fields' tokens but .* holds 'bytes' tokens" "$T/e" && ok refuses_other_format || bad refuses_other_format "$(cat "$T/e")"
"$PKTLM" pretrain --resume "$T/f.ckpt" --data "$T/bigrams" -o "$T/r.ckpt" --steps 8 >/dev/null 2>"$T/e"
[ $? -ne 0 ] && grep -q "'fields' tokens but .* 'bigrams' tokens" "$T/e" && ok resume_refuses_other_format || bad resume_refuses_other_format "$(cat "$T/e")"

# NetGPT's bigrams train on every backbone (vocabulary 65,544 > 2^16)
"$PKTLM" pretrain --data "$T/bigrams" -o "$T/q.ckpt" --arch qwen2 --layers 1 --d-model 32 --heads 2 --ctx 64 --steps 3 --threads 2 --quiet \
  >/dev/null 2>"$T/e" && ok qwen2_bigrams || bad qwen2_bigrams "$(cat "$T/e")"
"$PKTLM" generate --model "$T/q.ckpt" -o "$T/qgen.pcap" --flows 2 --threads 2 >/dev/null 2>"$T/e" && ok generate_bigrams || bad generate_bigrams "$(cat "$T/e")"

# NetGPT's order of the specials ([PAD] [SEP] [CLS] [UNK] [MASK], as its published vocabulary):
# the corpus says so, and one from before (its [SEP] 3) is refused with the command that remakes it
grep -q '"eos": 1' "$T/bigrams/vocab.json" && grep -q '"pad": 0' "$T/bigrams/vocab.json" && ok bigrams_netgpt_specials || bad bigrams_netgpt_specials
mkdir -p "$T/oldbig" && cp "$T/bigrams"/* "$T/oldbig/" && printf '\x03' | dd of="$T/oldbig/train.tok" bs=1 seek=20 conv=notrunc 2>/dev/null
"$PKTLM" pretrain --data "$T/oldbig" -o "$T/x.ckpt" --layers 1 --d-model 32 --heads 2 --ctx 64 --steps 1 --quiet >/dev/null 2>"$T/e"
[ $? -ne 0 ] && grep -q "before pktlm took NetGPT's order .*pktlm prep CAPTURES --tokens bigrams" "$T/e" && [ ! -e "$T/x.ckpt" ] &&
  ok old_bigrams_corpus_refused || bad old_bigrams_corpus_refused "$(cat "$T/e")"
# a NetGPT (UER GPT-2) checkpoint with its vocabulary file: rows gathered to pktlm's bigram ids.
# The 50-row fixture stands for it with a 50-line vocabulary laid out as NetGPT's
{ printf '[PAD]\n[SEP]\n[CLS]\n[UNK]\n[MASK]\n'; printf '%x\n' $(seq 0 15); printf '##%x\n' $(seq 0 15)
  printf '%s\n' 4500 0000 003c 06 45 00 0a c0a8 0101 ffff 11 4000 6000; } >"$T/v50.txt"
"$PKTLM" import tests/fixtures/hf_gpt2 --netgpt-vocab "$T/v50.txt" -o "$T/ng.ckpt" >"$T/o" 2>&1 &&
  grep -q "of the 65536 words 8 are a line of it, 65528 its word pieces (mean of their rows), 0 \[UNK\]" "$T/o" &&
  ok import_netgpt_vocab || bad import_netgpt_vocab "$(cat "$T/o")"
"$PKTLM" info "$T/ng.ckpt" 2>&1 | grep -q '^tokens       bigrams' && ok import_netgpt_is_bigrams || bad import_netgpt_is_bigrams "$("$PKTLM" info "$T/ng.ckpt" 2>&1)"
"$PKTLM" finetune --task generate --init "$T/ng.ckpt" --data "$T/bigrams" --steps 2 --batch 2 --threads 2 --quiet -o "$T/ngg.ckpt" >/dev/null 2>"$T/e" &&
  ok finetune_imported_netgpt || bad finetune_imported_netgpt "$(cat "$T/e")"
head -40 "$T/v50.txt" >"$T/v40.txt"
"$PKTLM" import tests/fixtures/hf_gpt2 --netgpt-vocab "$T/v40.txt" -o "$T/x.ckpt" >/dev/null 2>"$T/e"
[ $? -eq 1 ] && grep -q "has 40 lines but the model has 50 embedding rows" "$T/e" && [ ! -e "$T/x.ckpt" ] &&
  ok import_netgpt_vocab_mismatch || bad import_netgpt_vocab_mismatch "$(cat "$T/e")"

# field tokens -> packets through the trace writer: a capture tools read, TCP flows only
"$PKTLM" generate --model "$T/f.ckpt" -o "$T/gen.pcap" --flows 8 --threads 2 >"$T/gout" 2>&1 && ok generate_fields || bad generate_fields "$(cat "$T/gout")"
if command -v tshark >/dev/null; then
  n=$(tshark -r "$T/gen.pcap" -Y 'not tcp' 2>/dev/null | wc -l); a=$(tshark -r "$T/gen.pcap" 2>/dev/null | wc -l)
  [ "$n" -eq 0 ] && [ "$a" -gt 0 ] && ok generated_tcp_only || bad generated_tcp_only "$n of $a frames not TCP"
  tshark -r "$T/gen.pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -Y 'ip.checksum.status == "Bad" || tcp.checksum.status == "Bad"' 2>/dev/null | grep -q . &&
    bad generated_checksums || ok generated_checksums
else skip generated_tcp_only "no tshark"; fi

# tcpflowgen's files: export a fields corpus as Arrow, read it back as a corpus; node's
# apache-arrow (tests/arrow_oracle.sh) reads pktlm's files and sees the seed's layout
"$PKTLM" export "$T/fields" --format tcpflowgen -o "$T/tf" >"$T/e" 2>&1 && [ -s "$T/tf/http_tls.arrow" ] && [ -s "$T/tf/http_ssh_2if.arrow" ] &&
  [ ! -e "$T/tf/dns_icmp_udp_ns.arrow" ] && ok export_tcpflowgen || bad export_tcpflowgen "$(cat "$T/e"; ls "$T/tf")"
"$PKTLM" export "$T/bytes" --format tcpflowgen -o "$T/tfb" >/dev/null 2>"$T/e"; [ $? -ne 0 ] && grep -q "field tokens" "$T/e" &&
  ok export_tcpflowgen_needs_fields || bad export_tcpflowgen_needs_fields "$(cat "$T/e")"
"$PKTLM" prep "$T/tf" -o "$T/fromarrow" --label web >"$T/e" 2>&1 && grep -q '"tokens": "fields"' "$T/fromarrow/manifest.json" &&
  ok prep_arrow || bad prep_arrow "$(cat "$T/e")"
ns() { grep -o '"sequences_kept": [0-9]*' "$1/manifest.json"; }
[ "$(ns "$T/fields")" = "$(ns "$T/fromarrow")" ] && ok prep_arrow_all_flows || bad prep_arrow_all_flows "$(ns "$T/fields") vs $(ns "$T/fromarrow")"
"$PKTLM" export "$T/fromarrow" --format tcpflowgen -o "$T/tf2" >/dev/null 2>&1
bash tests/arrow_oracle.sh read "$T/tf/http_tls.arrow" >"$T/n1" 2>&1; rc=$?
if [ $rc -eq 77 ]; then skip node_reads_export "node or the npm package apache-arrow unavailable"
else
  head -1 "$T/n1" | grep -q '^schema token_sequences: List<Int32>$' && ok node_reads_export || bad node_reads_export "$(head -3 "$T/n1")"
  # the seed's layout: a type first, ids below 65546, EOS last
  awk 'NR > 2 { if ($1 < 65536 || $1 > 65539 || $NF != 65544) b++; for (i = 1; i <= NF; i++) if ($i >= 65546) b++ } END { exit b > 0 }' "$T/n1" &&
    ok export_seed_layout || bad export_seed_layout
  # prep FILE.arrow -> export again: the same flows (in another order: the splits are drawn again)
  bash tests/arrow_oracle.sh read "$T/tf2/http_tls.arrow" >"$T/n2" 2>&1
  cmp -s <(tail -n +3 "$T/n1" | sort) <(tail -n +3 "$T/n2" | sort) && ok arrow_roundtrip || bad arrow_roundtrip
fi
