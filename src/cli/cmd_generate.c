/* pktlm generate: a trace from a generation model (src/gen/generate.c, docs/generate.md). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "gen/generate.h"
#include "eval/flowfeat.h"
#include "nn/nn.h"
#include "models/checkpoint.h"
#include "corpus/tokens.h"
#include "corpus/vocab.h"
#include "corpus/prep.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 0 ok; -1 with a message in msg (what was wrong, and which labels exist). An index out of
 * range and an unknown name are the same mistake: both are usage errors (exit 2). */
static int parse_label(const char *v, const char *model_path, int *out, char *msg, size_t msglen) {
    if (!strcmp(v, "none")) { *out = -1; return 0; }
    model_config c;
    model_vocab mv;
    uint64_t np;
    char err[512];
    if (ckpt_peek_model(model_path, &c, &mv, NULL, &np, err, sizeof err) != 0) { snprintf(msg, msglen, "%s", err); return -1; }
    int nl = c.vocab > TOK_LABEL0 ? c.vocab - TOK_LABEL0 : 0;
    char *e;
    long n = strtol(v, &e, 10);
    if (*v && !*e && n >= 0 && n < nl) { *out = (int)n; return 0; }
    /* the names: vocab.json of the corpus the model was trained on (the one source of truth;
     * docs/tokens.md), for a name and for the message */
    shard sh = { .vocab_size = c.vocab, .n_labels = mv.n_labels, .label_base = mv.label_base };
    char **names = nl > 0 && mv.n_labels == nl ? corpus_labels(mv.data_dir, &sh, err, sizeof err) : NULL;
    int found = -1;
    size_t ml = 0;
    char known[400] = "";
    for (int k = 0; names && k < nl; k++) {
        if (found < 0 && !strcmp(names[k], v)) found = k;
        if (ml < sizeof known) ml += (size_t)snprintf(known + ml, sizeof known - ml, "%s%s", k ? ", " : "", names[k]);
    }
    corpus_labels_free(names, names ? nl : 0);
    if (found >= 0) { *out = found; return 0; }
    if (nl == 0) snprintf(msg, msglen, "the model knows no labels (its corpus was unlabelled): only 'none'");
    else if (*v && !*e) snprintf(msg, msglen, "label index %ld out of range: the model knows %d labels, 0..%d%s%s%s", n, nl, nl - 1,
                                 known[0] ? " (" : "", known, known[0] ? ")" : "");
    else if (known[0]) snprintf(msg, msglen, "not a label of the model's corpus; the model's labels (%s)", known);
    else snprintf(msg, msglen, "a label name needs the vocab.json of the model's corpus: %.400s (give the label's index instead, 0..%d)",
                  err, nl - 1);
    return -1;
}

static int unit_parse(const char *s) { return !strcmp(s, "flow") ? PREP_UNIT_FLOW : !strcmp(s, "capture") ? PREP_UNIT_CAPTURE : -1; }

int cmd_generate(int argc, char **argv) {
    cli_prefer_passive_wait(argc, argv);
    gen_opts o;
    gen_defaults(&o);
    const char *V = "generate", *label = NULL;
    int json = 0, timing = -1, prompt_k = 0;   /* -1, 0: not given */
    const cli_opt opts[] = {
        OPT_STR("--model", &o.model_path, "GEN.ckpt", "a generation model (`pktlm finetune --task generate` or `pktlm pretrain`)", .req = 1),
        OPT_OUT(&o.out_path, "OUT.pcap", "the trace", .req = 1),
        OPT_SECTION("what:"),
        OPT_STR("--label", &label, "L", "label index or name (vocab.json of the training corpus); default:\n"
                "sampled from the model; 'none' = the <unlabelled> token"),
        OPT_LONG_IN("--flows", &o.flows, 1, 1e9, "N", "stop after N flows (default 100 when neither --packets nor --tokens is given)"),
        OPT_LONG_IN("--packets", &o.packets, 1, 1e9, "N", "stop after at least N decoded packets (the writer may drop some: see\n"
                    "the summary)", .nodef = 1),
        OPT_LONG_IN("--tokens", &o.tokens, 1, 1e19, "N", "stop after exactly N sampled tokens (running flows are cut there)", .nodef = 1),
        OPT_INT_IN("--max-len", &o.max_len, 0, 1 << 20, "N", "tokens per flow (default: the model context)"),
        OPT_CHOICE_FN("--unit", &o.unit, unit_parse, "flow or capture", "flow|capture",
                      "what a sequence is (default: the model's training corpus, prep --unit).\n"
                      "capture: each sequence is a window of one capture (the label once, then\n"
                      "packets of many flows); the windows follow each other in time and make one\n"
                      "capture (--packets N: its first N packets; default 1000), flows found by\n"
                      "the packets' own addresses and ports"),
        OPT_FLAG("--reset-windows", &o.reset_windows, 1, "capture units: sample every window from a reset state (default for a\n"
                 "recurrent backbone, Mamba-2: the state runs on from window to window, each\n"
                 "--batch slot one stream of windows; attention backbones always reset)"),
        OPT_FLAG("--full", &o.full, 1, "never sample <eos>: every flow runs to --max-len (benchmarks)"),
        OPT_SECTION("sampling:"),
        OPT_FLOAT_IN("--temperature", &o.temperature, 0, HUGE_VAL, "X", "softmax temperature (0 = greedy)"),
        OPT_INT_IN("--top-k", &o.top_k, 0, 1 << 20, "N", "keep the N most likely tokens (0 = off)"),
        OPT_FLOAT_POS("--top-p", &o.top_p, 1, "X", "nucleus sampling (1 = off)"),
        OPT_FLOAT_IN("--min-p", &o.min_p, 0, 1, "X", "drop tokens below X times the most likely one (0 = off)"),
        OPT_FLOAT_POS("--repetition-penalty", &o.rep_penalty, 100, "X", "a token already in the flow has its logit divided by X\n"
                      "(multiplied when negative; NetSSM's sampler has both; 1 = off)"),
        OPT_U64("--seed", &o.seed, "N", "a flow depends on the seed and its number, not on --batch"),
        OPT_INT_IN("--batch", &o.batch, 1, 4096, "B", "sequences decoded at once (a finished one's slot takes the next flow\n"
                   "at once; the output does not depend on B, except for a capture whose state is\n"
                   "carried: B streams one after another in time, --batch 1 = one sequence)"),
        OPT_INT_IN("--threads", &o.threads, 0, 1024, "N", "default: all cores / OMP_NUM_THREADS", .nodef = 1),
        OPT_FLAG("--bf16", &o.bf16, 1, "weight matrices and key/value cache as bf16 (half the memory\n"
                 "traffic; logits within ~1e-3 relative of fp32; AVX-512)"),
        OPT_FLAG("--raw-tcp-flags", &o.raw_tcp_flags, 1, "leave TCP flags and reserved bits to the model (scans and other\n"
                 "anomalies possible); default: flag combinations a TCP stack sends"),
        OPT_FLAG("--strict-headers", &o.strict_headers, 1, "also make IP length fields, fragment bits, TTL and TCP options\n"
                 "what the writer keeps (fewer repairs; measured: TCP flags and states\n"
                 "further from real traffic, docs/generate.md)"),
        OPT_STR("--tokenizer", &o.tokenizer, "FILE", "a --tokens bpe model: its tokenizer.json (checked by hash; default: the one\n"
                "its training corpus's vocab.json names)"),
        OPT_SECTION("prompts:"),
        OPT_STR("--prompt-pcap", &o.prompt_pcap, "P.pcap", "complete real flows from their first --prompt-packets packets,\n"
                "tokenised as `pktlm prep` does"),
        OPT_INT_IN("--prompt-packets", &prompt_k, 1, 1000000, "K", "packets of each prompt flow (default 2)"),
        OPT_INT_IN("--payload", &o.prompt_payload, 0, 65535, "N", "prompt tokens: payload bytes kept (use the corpus' value)"),
        OPT_INT_IN("--max-bytes", &o.prompt_max_bytes, 20, 65535, "B", "prompt tokens: bytes kept per packet (use the corpus' value)"),
        OPT_SECTION("output:"),
        OPT_FLAG("--pcapng", &o.pcapng, 1, "pcapng instead of pcap"),
        OPT_FLAG("--raw-ip", &o.raw_ip, 1, "no Ethernet header"),
        OPT_INT_IN("--clients", &o.n_clients, 1, 1000000, "N", "synthetic client hosts"),
        OPT_DOUBLE_IN("--window", &o.window_s, 0, 1e8, "S", "flows start at random offsets within S seconds"),
        OPT_CHOICE("--timing", &timing, "model|replay", "T", "inter-arrival times from the model's time tokens (default) or drawn\n"
                   "from --timing-from's within-flow gaps"),
        OPT_STR("--timing-from", &o.timing_from, "REAL.pcap", "the capture replay draws from (alone it implies --timing replay)"),
        OPT_FLAG("--json", &json, 1, "summary as JSON on stdout"),
        OPT_QUIET(&o.quiet, "no summary"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "--model GEN.ckpt -o OUT.pcap [options]",
        .about = "Samples flows from a causal model (batched, with a key/value cache) and writes them as\n"
                 "one valid trace: each sequence is one flow, flows start at random offsets within\n"
                 "--window seconds, packets are merged by time. Lengths, checksums, endpoints and TCP\n"
                 "sequence numbers are made consistent by the trace writer (docs/generate.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    /* --timing-from alone means replay; with --timing model it would be silently unused */
    if (timing >= 0) o.timing = timing;
    else if (o.timing_from) o.timing = GEN_TIMING_REPLAY;
    if (o.timing_from && o.timing == GEN_TIMING_MODEL) return cli_error(V, "--timing-from goes with --timing replay, not --timing model"), 2;
    if (prompt_k && !o.prompt_pcap) return cli_error(V, "--prompt-packets needs --prompt-pcap"), 2;
    if (prompt_k) o.prompt_packets = prompt_k;
    if (o.timing == GEN_TIMING_REPLAY && !o.timing_from) return cli_error(V, "--timing replay needs --timing-from REAL.pcap"), 2;
    char lmsg[512];
    if (label && parse_label(label, o.model_path, &o.label, lmsg, sizeof lmsg) != 0)
        return cli_error(V, "--label %s: %s", label, lmsg), 2;

    if (gen_run(&o) != 0) return cli_error(V, "%s", o.err);

    /* an independent look at what was written: the flow reader of `pktlm compare` */
    ff_set s;
    ff_set_init(&s, 0, 0);
    char err[512] = "";
    uint64_t tcp = 0, hs = 0, seq = 0, both = 0;
    if (ff_read_file(&s, o.out_path, -1, NULL, err, sizeof err) != 0) { ff_set_free(&s); return cli_error(V, "re-reading %s: %s", o.out_path, err); }
    for (size_t i = 0; i < s.n; i++) {
        const ff_flow *f = &s.fl[i];
        if (f->key.proto != 6) continue;
        tcp++;
        int h = ff_handshake(f) != 0, q = f->seq_ok[0] && f->seq_ok[1] && f->ack_ok[0] && f->ack_ok[1];
        hs += h; seq += q; both += h && q;
    }
    const trace_stats *t = &o.ts;
    double tps = o.secs > 0 ? o.sampled / o.secs : 0;
    double in = t->in ? (double)t->in : 1, ntcp = tcp ? (double)tcp : 1;
    if (json) {
        printf("{\"output\":");
        cli_json_str(stdout, o.out_path);
        printf(",\"unit\":\"%s\",\"windows\":%llu,\"hosts\":%llu,\"state_carried\":%s", o.capture ? "capture" : "flow",
               (unsigned long long)(o.capture ? o.ds.seqs : 0), (unsigned long long)o.capture_hosts, o.carried ? "true" : "false");
        printf(",\"flows\":%llu,\"flows_in_file\":%zu,\"packets_decoded\":%llu,\"packets_written\":%llu,"
               "\"dropped\":%llu,\"repaired\":%llu,\"dropped_frac\":%.6f,\"repaired_frac\":%.6f,"
               "\"drop_version\":%llu,\"drop_proto\":%llu,\"drop_short\":%llu,"
               "\"fix_length\":%llu,\"fix_doff\":%llu,\"fix_options\":%llu,\"fix_cut\":%llu,\"fix_frag\":%llu,\"fix_ttl\":%llu,\"fix_ports\":%llu,"
               "\"cut_at_context\":%llu,\"stray_tokens\":%llu,"
               "\"tcp_flows\":%llu,\"tcp_handshake\":%llu,\"tcp_seq_ack_ok\":%llu,\"tcp_both\":%llu,"
               "\"tcp_handshake_frac\":%.6f,\"tcp_seq_ack_ok_frac\":%.6f,\"tcp_both_frac\":%.6f,"
               "\"tokens_sampled\":%llu,\"seconds\":%.3f,\"tokens_per_s\":%.1f,\"batch\":%d,\"threads\":%d,\"bf16\":%d}\n",
               (unsigned long long)(o.capture ? o.capture_flows : o.ds.seqs), s.n, (unsigned long long)o.ds.packets, (unsigned long long)t->written,
               (unsigned long long)t->dropped, (unsigned long long)t->repaired, t->dropped / in, t->repaired / in,
               (unsigned long long)t->drop_version, (unsigned long long)t->drop_proto, (unsigned long long)t->drop_short,
               (unsigned long long)t->fix_length, (unsigned long long)t->fix_doff, (unsigned long long)t->fix_options,
               (unsigned long long)t->fix_cut, (unsigned long long)t->fix_frag, (unsigned long long)t->fix_ttl, (unsigned long long)t->fix_ports,
               (unsigned long long)o.ds.cut_ctx, (unsigned long long)o.ds.stray,
               (unsigned long long)tcp, (unsigned long long)hs, (unsigned long long)seq, (unsigned long long)both,
               hs / ntcp, seq / ntcp, both / ntcp,
               (unsigned long long)o.sampled, o.secs, tps, o.batch, nn_threads(), o.bf16);
    } else if (!o.quiet) {
        uint64_t nf = o.capture ? o.capture_flows : o.ds.seqs;
        printf("wrote %s: %llu packets in %llu flows", o.out_path, (unsigned long long)t->written, (unsigned long long)nf);
        if (o.capture)
            printf(" between %llu hosts, one capture of %llu windows (%s)", (unsigned long long)o.capture_hosts, (unsigned long long)o.ds.seqs,
                   o.carried ? (o.batch > 1 ? "state carried, one stream per --batch slot" : "state carried") : "each from a reset state");
        if (s.n != nf)   /* a flow table splits at idle timeouts, RST/FIN and a SYN on a closed tuple */
            printf(" (read back as %llu flows: idle timeouts, RST/FIN and reused tuples split some)", (unsigned long long)s.n);
        printf("\n");
        printf("decoded   %llu packets; %llu %s cut at the context (last packet dropped), %llu stray tokens\n",
               (unsigned long long)o.ds.packets, (unsigned long long)o.ds.cut_ctx, o.capture ? "windows" : "flows",
               (unsigned long long)o.ds.stray);
        printf("dropped   %llu (%.2f%%): version %llu, protocol %llu, short %llu\n", (unsigned long long)t->dropped,
               100 * t->dropped / in, (unsigned long long)t->drop_version, (unsigned long long)t->drop_proto,
               (unsigned long long)t->drop_short);
        printf("repaired  %llu (%.2f%%): length %llu, doff %llu, options %llu, cut options %llu, frag %llu, ttl %llu, ports %llu\n",
               (unsigned long long)t->repaired, 100 * t->repaired / in, (unsigned long long)t->fix_length,
               (unsigned long long)t->fix_doff, (unsigned long long)t->fix_options, (unsigned long long)t->fix_cut, (unsigned long long)t->fix_frag,
               (unsigned long long)t->fix_ttl, (unsigned long long)t->fix_ports);
        printf("TCP flows %llu: handshake %.1f%%, seq/ack consistent %.1f%%, both %.1f%%\n", (unsigned long long)tcp,
               100 * hs / ntcp, 100 * seq / ntcp, 100 * both / ntcp);
        printf("speed     %llu tokens sampled in %.2f s: %.0f tokens/s (batch %d, %d threads)\n",
               (unsigned long long)o.sampled, o.secs, tps, o.batch, nn_threads());
    }
    ff_set_free(&s);
    return 0;
}
