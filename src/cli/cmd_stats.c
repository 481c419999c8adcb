/* pktlm stats: read captures, split them into flows, summarise. */
#include "cli/cli.h"
#include "cli/live.h"
#include "cli/opts.h"
#include "capture/capture.h"
#include "capture/packet.h"
#include "flow/flow.h"
#include "util/util.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

enum { P_TCP, P_UDP, P_ICMP, P_ICMP6, P_OTHER, NPROTO };
static const char *proto_names[NPROTO] = { "tcp", "udp", "icmp", "icmpv6", "other" };

typedef struct {
    FILE *csv;
    const char *file;
    uint64_t flows[NPROTO], flows_total, handshakes, fin, rst;
} stats_ctx;

static int proto_class(int p) {
    switch (p) {
    case 6: return P_TCP;
    case 17: return P_UDP;
    case 1: return P_ICMP;
    case 58: return P_ICMP6;
    default: return P_OTHER;
    }
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
    fputc('"', f);
}

static const char *end_names[] = { "", "idle", "fin", "rst", "reuse", "evict", "eof" };

static void on_flow_end(void *vctx, flow *f) {
    stats_ctx *c = vctx;
    c->flows[proto_class(f->key.proto)]++;
    c->flows_total++;
    int hs = (f->tcp & (FT_SYN_A | FT_SYNACK_B | FT_ACK_A)) == (FT_SYN_A | FT_SYNACK_B | FT_ACK_A);
    if (f->key.proto == 6) {
        c->handshakes += hs;
        c->fin += (f->tcp & (FT_FIN_A | FT_FIN_B)) == (FT_FIN_A | FT_FIN_B);
        c->rst += (f->tcp & FT_RST) != 0;
    }
    if (!c->csv) return;
    char a[46], b[46];
    flow_addr_str(f->key.ipver, f->key.addr[0], a);
    flow_addr_str(f->key.ipver, f->key.addr[1], b);
    csv_field(c->csv, c->file);
    fprintf(c->csv, ",%llu,%u,%s,%u,%s,%u,%lld.%09lld,%.9f,%llu,%llu,%llu,%llu,%d,%d,%d,%d,%d,%s\n",
            (unsigned long long)f->id, f->key.proto, a, f->key.port[0], b, f->key.port[1],
            (long long)(f->first_ns / 1000000000), (long long)(f->first_ns % 1000000000 + (f->first_ns < 0 ? 1000000000 : 0)),
            (f->last_ns - f->first_ns) * 1e-9,
            (unsigned long long)f->pkts[0], (unsigned long long)f->pkts[1],
            (unsigned long long)f->bytes[0], (unsigned long long)f->bytes[1],
            hs, (f->tcp & FT_FIN_A) != 0, (f->tcp & FT_FIN_B) != 0, (f->tcp & FT_RST) != 0,
            (f->tcp & FT_MIDSTREAM) != 0, end_names[f->end_reason < 7 ? f->end_reason : 0]);
}

#define MAX_LT 64
typedef struct {
    uint64_t files, files_err, packets, bytes_wire, bytes_cap, file_bytes;
    uint64_t ipv4, ipv6, not_ip, unknown_link, malformed, truncated, ip_truncated, frags, frag_orphans;
    uint64_t pcapng_skipped, pcapng_bad;
    uint64_t fmt[5];
    int lt_code[MAX_LT]; uint64_t lt_files[MAX_LT]; int nlt;
    int64_t t_first, t_last;
    double duration_sum;
} summary;

static void count_lt(summary *s, int lt) {
    for (int i = 0; i < s->nlt; i++) if (s->lt_code[i] == lt) { s->lt_files[i]++; return; }
    if (s->nlt < MAX_LT) { s->lt_code[s->nlt] = lt; s->lt_files[s->nlt++] = 1; }
}

static void lt_label(int lt, char *buf, size_t n) {
    const char *nm = linktype_name(lt);
    if (nm) snprintf(buf, n, "%s", nm); else snprintf(buf, n, "linktype-%d", lt);
}

int cmd_stats(int argc, char **argv) {
    int json = 0, ninputs = 0, tcp_set = 0, udp_set = 0;
    char **inputs = NULL;
    const char *flows_path = NULL;
    double timeout = 0;
    flow_cfg cfg;
    flow_cfg_default(&cfg);
    long max_flows = (long)cfg.max_flows;
    int mf_set = 0;
    cli_live lo;
    cli_live_default(&lo);
    const cli_opt opts[] = {
        OPT_POS_LIST("INPUT", &inputs, &ninputs, 0, "captures: pcap/pcapng files or directories (recursed), '-' = stdin"),
        OPT_FLAG("--json", &json, 1, "print the summary as JSON instead of text"),
        OPT_STR("--flows", &flows_path, "FILE", "write one CSV row per flow (docs/flows.md)"),
        OPT_DOUBLE_POS("--timeout", &timeout, HUGE_VAL, "S", "idle timeout for every protocol (default: TCP 300 s, others 60 s;\n"
                       "--tcp-timeout and --udp-timeout override it)"),
        OPT_DOUBLE_POS("--tcp-timeout", &cfg.tcp_timeout, HUGE_VAL, "S", "idle timeout for TCP flows", .set = &tcp_set),
        OPT_DOUBLE_POS("--udp-timeout", &cfg.udp_timeout, HUGE_VAL, "S", "idle timeout for UDP and other flows", .set = &udp_set),
        OPT_LONG_IN("--max-flows", &max_flows, 16, HUGE_VAL, "N", "active flows kept at once before the least recent is evicted\n"
                    "(default 4194304; 262144 with --live)", .set = &mf_set, .nodef = 1),
        OPT_LIVE(lo),
        OPT_LIVE_STATS(lo),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = "stats", .opts = opts,
        .usage = "[--json] [--flows FLOWS.csv] [--timeout S] [--tcp-timeout S] [--udp-timeout S] [--max-flows N] INPUT...",
        .about = "Read pcap/pcapng captures (files or directories, recursed; '-' = stdin), split them\n"
                 "into bidirectional 5-tuple flows and print a summary.",
        .more = "Flows are per file; a flow also ends after FIN in both directions or RST, and a SYN\n"
                "on the tuple of a finished connection starts a new one.\n"
                "With --live IFACE instead of INPUT: a running summary line every --interval seconds, then\n"
                "the summary (with the kernel's and the interface's drop counters) at the end (docs/live.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    /* --timeout sets both; a protocol's own option, given as well, wins */
    if (timeout > 0) {
        if (!tcp_set) cfg.tcp_timeout = timeout;
        if (!udp_set) cfg.udp_timeout = timeout;
    }
    cfg.max_flows = (size_t)max_flows;
    if (lo.cap.iface) {
        if (ninputs) return cli_error("stats", "--live %s reads an interface: give no capture files with it", lo.cap.iface) + 1;
        if (flows_path) return cli_error("stats", "--flows is for files; with --live use --write F.pcap and run stats --flows on it") + 1;
        if (!mf_set) cfg.max_flows = 262144;   /* the files' default is 4 M: kept flat for a long capture */
        return stats_live(&lo, &cfg, json);
    }
    if (!ninputs) return cli_error("stats", "missing INPUT: a capture, or --live IFACE (see pktlm stats --help)") + 1;
    char **files;
    int nfiles;
    int walk_skipped = cli_expand_inputs("stats", inputs, ninputs, &files, &nfiles);
    if (walk_skipped < 0) return 1;
    if (nfiles == 0) { cli_free_list(files, nfiles); return cli_error("stats", "no capture files found in the inputs"); }

    stats_ctx ctx = { 0 };
    atomic_file csv_out = { 0 };
    char aerr[1024];
    if (flows_path) {
        ctx.csv = atomic_open(&csv_out, flows_path, aerr, sizeof aerr);
        if (!ctx.csv) { cli_free_list(files, nfiles); return cli_error("stats", "%s", aerr); }
        fputs("file,flow_id,proto,a_ip,a_port,b_ip,b_port,start,duration,pkts_a2b,pkts_b2a,bytes_a2b,bytes_b2a,"
              "handshake,fin_a,fin_b,rst,midstream,end\n", ctx.csv);
    }
    flow_table *ft = flow_table_new(&cfg, on_flow_end, &ctx);
    if (!ft) { atomic_abort(&csv_out); cli_free_list(files, nfiles); return cli_error("stats", "out of memory"); }

    double total = 0;
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        if (stat(files[i], &st) == 0) total += (double)st.st_size;
    }
    summary s = { 0 };
    s.t_first = INT64_MAX; s.t_last = INT64_MIN;
    char **errors = calloc((size_t)nfiles, sizeof *errors);
    progress pr;
    progress_init(&pr, "stats", "MB", 1e6);
    double done_before = 0, t0 = now_sec();
    uint64_t frag_orphans0 = 0;
    volatile sig_atomic_t *stop = cli_catch_interrupt();

    for (int i = 0; i < nfiles && !*stop; i++) {
        cap_reader r;
        ctx.file = files[i];
        s.files++;
        if (cap_open(&r, files[i]) != 0) {
            errors[i] = strdup(r.err);
            s.files_err++;
            cap_close(&r);
            continue;
        }
        s.fmt[r.fmt < 5 ? r.fmt : 0]++;
        int64_t f_first = INT64_MAX, f_last = INT64_MIN;
        int seen_lt[8], nseen = 0;
        cap_pkt p;
        int rc;
        while ((rc = cap_next(&r, &p)) == 1) {
            s.packets++;
            s.bytes_wire += p.len;
            s.bytes_cap += p.caplen;
            if (p.caplen < p.len) s.truncated++;
            if (p.ts_ns < f_first) f_first = p.ts_ns;
            if (p.ts_ns > f_last) f_last = p.ts_ns;
            int known = 0;
            for (int k = 0; k < nseen; k++) known |= seen_lt[k] == p.linktype;
            if (!known && nseen < 8) { seen_lt[nseen++] = p.linktype; count_lt(&s, p.linktype); }
            pkt_info pi;
            int st = pkt_parse(p.linktype, p.data, p.caplen, p.len, &pi);
            if (st == PKT_IP) {
                if (pi.ipver == 4) s.ipv4++; else s.ipv6++;
                if (pi.frag) s.frags++;
                if (pi.truncated) s.ip_truncated++;
                int dir;
                flow_table_add(ft, &pi, p.ts_ns, p.len, &dir);
            } else if (st == PKT_NOT_IP) s.not_ip++;
            else if (st == PKT_UNKNOWN_LINK) s.unknown_link++;
            else s.malformed++;
            if ((s.packets & 0xffff) == 0) {
                if (*stop) break;
                progress_update(&pr, done_before + (double)r.bytes_read, total, NULL);
            }
        }
        if (nseen == 0) { int lt = cap_linktype(&r); if (lt >= 0) count_lt(&s, lt); }
        if (rc < 0) { errors[i] = strdup(r.err); s.files_err++; }
        else if (r.warn[0]) {
            size_t L = strlen(files[i]) + strlen(r.warn) + 64;
            errors[i] = malloc(L);
            snprintf(errors[i], L, "%s: warning: %llu block(s) skipped, first: %s", files[i], (unsigned long long)r.bad_blocks, r.warn);
        }
        s.pcapng_skipped += r.skipped_blocks;
        s.pcapng_bad += r.bad_blocks;
        s.file_bytes += r.bytes_read;
        done_before += (double)r.bytes_read;
        if (f_first != INT64_MAX) {
            s.duration_sum += (f_last - f_first) * 1e-9;
            if (f_first < s.t_first) s.t_first = f_first;
            if (f_last > s.t_last) s.t_last = f_last;
        }
        flow_table_flush(ft);   /* flows do not span files */
        cap_close(&r);
    }
    progress_end(&pr);
    double elapsed = now_sec() - t0;
    const flow_counters *fc = flow_table_counters(ft);
    s.frag_orphans = fc->frag_later_orphan - frag_orphans0;

    int ok = 1;
    if (ctx.csv) {
        if (*stop) atomic_abort(&csv_out);   /* interrupted: no CSV of part of the input under the user's name */
        else if (atomic_commit(&csv_out, aerr, sizeof aerr) != 0) { cli_error("stats", "%s", aerr); ok = 0; }
    }
    if (*stop) cli_error("stats", "interrupted: the summary covers what was read%s", flows_path ? "; no flow CSV written" : "");

    double span = s.t_last > s.t_first ? (s.t_last - s.t_first) * 1e-9 : 0;
    if (json) {
        FILE *o = stdout;
        fprintf(o, "{\n  \"files\": %llu,\n  \"files_with_errors\": %llu,\n  \"formats\": {", (unsigned long long)s.files, (unsigned long long)s.files_err);
        int first = 1;
        for (int k = 1; k < 5; k++) if (s.fmt[k]) { fprintf(o, "%s\"%s\": %llu", first ? "" : ", ", cap_format_name(k), (unsigned long long)s.fmt[k]); first = 0; }
        fprintf(o, "},\n  \"link_types\": {");
        for (int k = 0; k < s.nlt; k++) { char nm[32]; lt_label(s.lt_code[k], nm, sizeof nm); fprintf(o, "%s\"%s\": %llu", k ? ", " : "", nm, (unsigned long long)s.lt_files[k]); }
        fprintf(o, "},\n  \"packets\": %llu,\n  \"bytes\": %llu,\n  \"captured_bytes\": %llu,\n  \"file_bytes\": %llu,\n",
                (unsigned long long)s.packets, (unsigned long long)s.bytes_wire, (unsigned long long)s.bytes_cap, (unsigned long long)s.file_bytes);
        fprintf(o, "  \"duration_s\": %.6f,\n  \"time_span_s\": %.6f,\n", s.duration_sum, span);
        fprintf(o, "  \"flows\": {\"total\": %llu", (unsigned long long)ctx.flows_total);
        for (int k = 0; k < NPROTO; k++) fprintf(o, ", \"%s\": %llu", proto_names[k], (unsigned long long)ctx.flows[k]);
        fprintf(o, ", \"tcp_handshake\": %llu, \"tcp_fin_both\": %llu, \"tcp_rst\": %llu, \"evicted\": %llu, \"active_peak\": %llu},\n",
                (unsigned long long)ctx.handshakes, (unsigned long long)ctx.fin, (unsigned long long)ctx.rst,
                (unsigned long long)fc->evicted, (unsigned long long)fc->active_peak);
        fprintf(o, "  \"ipv4_packets\": %llu,\n  \"ipv6_packets\": %llu,\n  \"non_ip_packets\": %llu,\n  \"unknown_link_packets\": %llu,\n"
                "  \"malformed_packets\": %llu,\n  \"fragments\": %llu,\n  \"orphan_fragments\": %llu,\n  \"truncated_packets\": %llu,\n"
                "  \"ip_truncated_packets\": %llu,\n  \"pcapng_blocks_skipped\": %llu,\n  \"seconds\": %.3f,\n  \"errors\": [",
                (unsigned long long)s.ipv4, (unsigned long long)s.ipv6, (unsigned long long)s.not_ip, (unsigned long long)s.unknown_link,
                (unsigned long long)s.malformed, (unsigned long long)s.frags, (unsigned long long)s.frag_orphans, (unsigned long long)s.truncated,
                (unsigned long long)s.ip_truncated, (unsigned long long)s.pcapng_skipped, elapsed);
        first = 1;
        for (int i = 0; i < nfiles; i++) if (errors[i]) { fputs(first ? "\n    " : ",\n    ", o); cli_json_str(o, errors[i]); first = 0; }
        fprintf(o, "%s]\n}\n", first ? "" : "\n  ");
    } else {
        printf("files          %llu", (unsigned long long)s.files);
        if (s.files_err) printf(" (%llu with errors)", (unsigned long long)s.files_err);
        printf("\nformats       ");
        for (int k = 1; k < 5; k++) if (s.fmt[k]) printf(" %s:%llu", cap_format_name(k), (unsigned long long)s.fmt[k]);
        printf("\nlink types    ");
        for (int k = 0; k < s.nlt; k++) { char nm[32]; lt_label(s.lt_code[k], nm, sizeof nm); printf(" %s:%llu", nm, (unsigned long long)s.lt_files[k]); }
        printf("\npackets        %llu (IPv4 %llu, IPv6 %llu, non-IP %llu, unknown link %llu, malformed %llu)\n",
               (unsigned long long)s.packets, (unsigned long long)s.ipv4, (unsigned long long)s.ipv6, (unsigned long long)s.not_ip,
               (unsigned long long)s.unknown_link, (unsigned long long)s.malformed);
        printf("bytes          %llu on the wire, %llu captured\n", (unsigned long long)s.bytes_wire, (unsigned long long)s.bytes_cap);
        printf("duration       %.3f s (sum over files), span %.3f s\n", s.duration_sum, span);
        printf("flows          %llu:", (unsigned long long)ctx.flows_total);
        for (int k = 0; k < NPROTO; k++) printf(" %s %llu", proto_names[k], (unsigned long long)ctx.flows[k]);
        printf("\ntcp            %llu handshakes, %llu FIN both ways, %llu RST\n", (unsigned long long)ctx.handshakes,
               (unsigned long long)ctx.fin, (unsigned long long)ctx.rst);
        printf("fragments      %llu (%llu later fragments without their first)\n", (unsigned long long)s.frags, (unsigned long long)s.frag_orphans);
        printf("truncated      %llu packets with caplen < len, %llu IP packets cut short\n", (unsigned long long)s.truncated, (unsigned long long)s.ip_truncated);
        if (fc->evicted) printf("evicted        %llu flows (table full; raise --max-flows)\n", (unsigned long long)fc->evicted);
        printf("speed          %.1f MB/s, %.0f packets/s (%.3f s)\n", elapsed > 0 ? s.file_bytes / elapsed / 1e6 : 0,
               elapsed > 0 ? s.packets / elapsed : 0, elapsed);
        printf("errors         %llu\n", (unsigned long long)s.files_err);
    }
    for (int i = 0; i < nfiles; i++) if (errors[i]) { fprintf(stderr, "%s\n", errors[i]); free(errors[i]); }
    free(errors);
    flow_table_free(ft);
    cli_free_list(files, nfiles);
    return *stop ? 130 : (ok && s.files_err == 0 && !walk_skipped) ? 0 : 1;
}
