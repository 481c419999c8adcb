/* classify --live and stats --live: see live.h and docs/live.md. */
#include "cli/live.h"
#include "cli/cli.h"
#include "capture/capture.h"
#include "capture/packet.h"
#include "corpus/stream.h"
#include "corpus/tokfmt.h"
#include "flow/flow.h"
#include "models/clshead.h"
#include "models/clsworkers.h"
#include "util/util.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_live_default(cli_live *lo) {
    memset(lo, 0, sizeof *lo);
    live_cfg_default(&lo->cap);
    lo->interval = 1;
    lo->workers = 1;
    lo->queue = 4096;
    lo->max_flows = 65536;
}

/* ---- shared by both loops ---- */

static int64_t wall_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static const char *reason_name(int r) {
    static const char *n[] = { "after", "idle", "fin", "rst", "reuse", "evict", "end" };
    return r >= 0 && r <= END_FLUSH ? n[r] : "?";
}

/* latency histogram: bucket k covers [10^(k/20), 10^((k+1)/20)) microseconds */
#define LAT_B 200
typedef struct { uint64_t n, b[LAT_B]; double max_ms, sum_ms; } lat_hist;
static void lat_add(lat_hist *h, double ms) {
    double us = ms * 1e3;
    int k = us < 1 ? 0 : (int)(20 * log10(us));
    if (k >= LAT_B) k = LAT_B - 1;
    h->b[k]++; h->n++; h->sum_ms += ms;
    if (ms > h->max_ms) h->max_ms = ms;
}
static double lat_q(const lat_hist *h, double q) {
    if (!h->n) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n), acc = 0;
    for (int k = 0; k < LAT_B; k++)
        if ((acc += h->b[k]) >= want) { double e = pow(10, (k + 1) / 20.0) / 1e3; return e < h->max_ms ? e : h->max_ms; }   /* upper edge, ms */
    return h->max_ms;
}

typedef struct {
    live_src *src;
    cap_writer w;
    int writing;
    const char *verb;
} capture_side;

static int open_capture(capture_side *cs, const cli_live *lo, const char *verb) {
    char err[1024], warn[512];
    memset(cs, 0, sizeof *cs);
    cs->verb = verb;
    cs->src = live_open(&lo->cap, err, sizeof err, warn, sizeof warn);
    if (!cs->src) return cli_error(verb, "%s", err);
    if (warn[0]) cli_error(verb, "warning: %s", warn);
    if (lo->write) {
        if (cap_writer_open(&cs->w, lo->write, (uint16_t)live_linktype(cs->src), live_ts_ns_resolution(cs->src) == 1,
                            live_snaplen(cs->src)) != 0) {
            cli_error(verb, "%s: cannot write: %s", lo->write, strerror(errno));
            live_close(cs->src);
            return 1;
        }
        cs->writing = 1;
    }
    return 0;
}

/* 0 ok, 1 the --write file could not be completed */
static int close_capture(capture_side *cs) {
    int rc = 0;
    if (cs->writing && cap_writer_close(&cs->w) != 0) rc = cli_error(cs->verb, "cannot complete %s: %s", cs->w.out.path ? cs->w.out.path : "--write file", strerror(errno));
    live_close(cs->src);
    return rc;
}

/* The loop both verbs run: packets to fn until Ctrl-C, --duration, --count or an error; every
 * ~100 ms tick(ctx, wall ns). Returns 0, or 1 on a capture error (printed). */
typedef void (*pkt_fn)(void *ctx, const cap_pkt *p);
typedef void (*tick_fn)(void *ctx, double elapsed, int64_t wall);
static int capture_loop(capture_side *cs, const cli_live *lo, pkt_fn fn, tick_fn tick, void *ctx, double *elapsed, int *interrupted) {
    volatile sig_atomic_t *stop = cli_catch_interrupt();
    double t0 = now_sec(), next = t0 + 0.1;
    long n = 0;
    int rc = 0;
    char err[1024];
    double draining = 0;
    for (;;) {
        /* stopped (Ctrl-C, --duration): what the kernel's buffer already holds was captured;
         * take it (for at most 5 s, should traffic keep coming), then stop. A second Ctrl-C
         * kills at once. */
        double t = now_sec();
        if (!draining && (*stop || (lo->duration > 0 && t - t0 >= lo->duration))) draining = t;
        cap_pkt p;
        int r = live_next(cs->src, &p, !draining, err, sizeof err);
        if (r < 0) { rc = cli_error(cs->verb, "%s", err); break; }
        if (draining && (r == 0 || t - draining > 5)) break;
        if (r == 1) {
            /* a failed write (full disk) stops the writing; the capture goes on, and the file is
             * removed at the end rather than left cut short */
            if (cs->writing && !cs->w.failed && cap_writer_write(&cs->w, p.ts_ns, p.data, p.caplen, p.len) != 0)
                cli_error(cs->verb, "warning: %s: write failed (%s); no longer writing it", lo->write, strerror(errno));
            fn(ctx, &p);
            if (lo->count && ++n >= lo->count) break;
        }
        if (t >= next) {
            next = t + 0.1;
            tick(ctx, t - t0, wall_ns());
        }
    }
    *interrupted = *stop != 0;
    *elapsed = now_sec() - t0;
    return rc;
}

/* ---- classify --live ---- */

typedef struct {
    int fmt, K;
    const char *iface;
    char **names;
    const tok_format *tf;
    stream *st;
    cls_workers *pool;
    lat_hist lat;             /* written by the result callback (serialised by the pool) */
    uint64_t printed;
} cls_live;

static void on_decision(void *vc, const stream_decision *d) {
    cls_live *c = vc;
    cls_job j = { d->f->key, d->f->id, d->f->pkts[0] + d->f->pkts[1], d->reason, d->ts_ns, now_sec(), (tok_t *)d->tok, d->n };
    cls_workers_submit(c->pool, &j);   /* full: dropped and counted by the pool */
}

void classify_print_top3(int fmt, char **nm, const float *p, const int *top) {
    if (fmt == 1) {
        cli_csv_str(stdout, nm[top[0]]);
        printf(",%.4f", p[top[0]]);
        for (int r = 0; r < 3; r++) {
            putchar(',');
            cli_csv_str(stdout, top[r] >= 0 ? nm[top[r]] : "");
            printf(",%.4f", top[r] >= 0 ? p[top[r]] : 0.0f);
        }
        putchar('\n');
    } else {
        cli_json_str(stdout, nm[top[0]]);
        printf(", \"prob\": %.4f, \"top3\": [", p[top[0]]);
        for (int r = 0; r < 3 && top[r] >= 0; r++) { printf("%s[", r ? ", " : ""); cli_json_str(stdout, nm[top[r]]); printf(", %.4f]", p[top[r]]); }
        printf("]}\n");
    }
}

static void on_result(void *vc, const cls_job *x, const float *p, int K) {
    cls_live *c = vc;
    double lat = (double)(wall_ns() - x->ts_ns) / 1e6;
    /* the summary's latency: decisions at packet K (one at an end waited for the end) */
    if (x->reason == STREAM_AT_K) lat_add(&c->lat, lat);
    int top[3];
    cls_top(p, K, top, 3);
    /* packets in the row, as file classify counts them */
    uint32_t pk = 0;
    for (size_t i = 0; i < x->n; i++) pk += tokfmt_is_pkt(c->tf, x->tok[i]);
    if (pk > (uint32_t)c->K) pk = (uint32_t)c->K;
    char a[64], b[64], ts[40];
    flow_addr_str(x->key.ipver, x->key.addr[0], a);
    flow_addr_str(x->key.ipver, x->key.addr[1], b);
    int64_t s = x->ts_ns / 1000000000, ns = x->ts_ns % 1000000000;
    if (ns < 0) { ns += 1000000000; s--; }
    snprintf(ts, sizeof ts, "%lld.%09lld", (long long)s, (long long)ns);
    char **nm = c->names;
    if (c->fmt == 1) {
        printf("%s,%.3f,", ts, lat);
        cli_csv_str(stdout, c->iface);
        printf(",%llu,%d,%s,%u,%s,%u,%u,%llu,%s,", (unsigned long long)x->id, x->key.proto, a, x->key.port[0], b, x->key.port[1], pk,
               (unsigned long long)x->flow_pkts, reason_name(x->reason));
        classify_print_top3(1, nm, p, top);
    } else if (c->fmt == 2) {
        printf("{\"ts\": %s, \"latency_ms\": %.3f, \"iface\": ", ts, lat);
        cli_json_str(stdout, c->iface);
        printf(", \"flow\": %llu, \"proto\": %d, \"a\": \"%s\", \"a_port\": %u, \"b\": \"%s\", \"b_port\": %u, \"packets\": %u, "
               "\"flow_packets\": %llu, \"decided\": \"%s\", \"label\": ", (unsigned long long)x->id, x->key.proto, a, x->key.port[0], b,
               x->key.port[1], pk, (unsigned long long)x->flow_pkts, reason_name(x->reason));
        classify_print_top3(2, nm, p, top);
    } else {
        char ea[80], eb[80];
        snprintf(ea, sizeof ea, "%s:%u", a, x->key.port[0]);
        snprintf(eb, sizeof eb, "%s:%u", b, x->key.port[1]);
        printf("%-20s %8.2f %6llu %3d %-28s %-28s %3u %-5s  %-20s %.3f\n", ts, lat, (unsigned long long)x->id, x->key.proto, ea, eb, pk,
               reason_name(x->reason), nm[top[0]], p[top[0]]);
    }
    fflush(stdout);   /* a decision is out as soon as it is made */
    c->printed++;
}

static void cls_pkt(void *vc, const cap_pkt *p) { stream_packet(((cls_live *)vc)->st, p); }
/* idle flows end on the wall clock, 1 s behind it: a packet still in the kernel's buffer with
 * an older timestamp must not find its flow already expired */
static void cls_tick(void *vc, double el, int64_t wall) { (void)el; stream_advance(((cls_live *)vc)->st, wall - 1000000000); }

int classify_live(const cli_live *lo, const char *model_path, const prep_cfg *pc0, const tok_format *tf, int K, int fmt, int batch,
                  int threads, int quiet) {
    const char *V = "classify";
    char err[1024];
    prep_cfg pc = *pc0;
    pc.flows.max_flows = (size_t)lo->max_flows;
    cls_live c = { .fmt = fmt, .K = K, .iface = lo->cap.iface, .tf = tf };
    cls_workers_cfg wc = { lo->workers, threads > 0 ? threads : 1, batch, lo->queue, K, pc.tokens, tf };
    c.pool = cls_workers_start(model_path, &wc, on_result, &c, err, sizeof err);
    if (!c.pool) return cli_error(V, "%s", err);
    /* label names: every worker loaded the same file; keep one copy for the output */
    model m = { 0 };
    cls_head h;
    cls_info info;
    if (cls_load(model_path, &m, NULL, &h, &info, err, sizeof err) != 0) { cls_workers_finish(c.pool, NULL); return cli_error(V, "%s", err); }
    cls_head_free(&h); model_free(&m);
    c.names = info.names;
    c.st = stream_new(&pc, K, on_decision, NULL, &c);
    capture_side cs;
    if (!c.st || open_capture(&cs, lo, V) != 0) {
        if (!c.st) cli_error(V, "out of memory");
        stream_free(c.st); cls_workers_finish(c.pool, NULL); cls_info_free(&info);
        return 1;
    }
    if (fmt == 1) printf("ts,latency_ms,iface,flow,proto,a,a_port,b,b_port,packets,flow_packets,decided,label,prob,top1,p1,top2,p2,top3,p3\n");
    else if (fmt == 0) printf("%-20s %8s %6s %3s %-28s %-28s %3s %-5s  %-20s %5s\n", "ts", "lat_ms", "flow", "pr", "a", "b", "pk", "at", "label", "prob");
    fflush(stdout);
    fprintf(stderr, "pktlm classify: capturing on %s%s%s, deciding at packet %d (Ctrl-C ends)\n", lo->cap.iface,
            lo->cap.filter ? " with filter " : "", lo->cap.filter ? lo->cap.filter : "", K);
    double el;
    int intr;
    int rc = capture_loop(&cs, lo, cls_pkt, cls_tick, &c, &el, &intr);
    size_t open_at_end = stream_active(c.st);
    stream_finish(c.st);                /* the flows still open end with the capture */
    cls_workers_stats ws;
    cls_workers_finish(c.pool, &ws);    /* every queued decision is printed */
    live_counters lc;
    int kok = live_counters_get(cs.src, &lc) == 0;
    if (close_capture(&cs)) rc = 1;
    const stream_counters *sc = stream_get_counters(c.st);
    const flow_counters *fc = stream_flow_counters(c.st);
    /* the summary goes to stderr whatever the format: stdout holds only decisions */
    fprintf(stderr,
            "pktlm classify: %s: %llu packets (%.1f MB) in %.1f s%s; %llu flows: %llu decided (%llu at packet %d, %llu at their end), "
            "%llu filtered by the corpus's prep options (%zu flows were open when the capture stopped)\n"
            "  drops: kernel %s%llu, interface %s%llu; pktlm: %llu decisions (queue full, --queue %d), %llu flows evicted (table "
            "full, --max-flows %ld)%s\n"
            "  latency of the decisions at packet %d, from its capture to the line: p50 %.2f ms, p99 %.2f ms, max %.2f ms; model %.2f ms per "
            "flow (%d worker%s, queue peak %d)\n",
            lo->cap.iface, (unsigned long long)lc.packets, lc.bytes / 1e6, el, intr ? " (interrupted)" : "",
            (unsigned long long)sc->flows, (unsigned long long)ws.done, (unsigned long long)sc->decided_at_k, K,
            (unsigned long long)sc->decided_at_end, (unsigned long long)sc->filtered, open_at_end,
            kok ? "" : "?", (unsigned long long)lc.kernel_drops, kok ? "" : "?", (unsigned long long)lc.if_drops,
            (unsigned long long)ws.dropped_full, lo->queue, (unsigned long long)fc->evicted, lo->max_flows,
            sc->oom ? "; out of memory for some flows" : "",
            K, lat_q(&c.lat, 0.5), lat_q(&c.lat, 0.99), c.lat.max_ms, ws.done ? ws.model_s * 1e3 / (double)ws.done : 0,
            lo->workers, lo->workers > 1 ? "s" : "", ws.queue_peak);
    if (!c.lat.n) fprintf(stderr, "  (no decision at packet %d: no latency figures)\n", K);
    if (sc->decided_over_max || sc->dict_full)
        fprintf(stderr, "  note: %llu flows decided at packet %d then longer than the corpus's --max-flow-pkts; %llu addresses "
                        "not added to the payload dictionary (full)\n",
                (unsigned long long)sc->decided_over_max, K, (unsigned long long)sc->dict_full);
    if (lo->write && !rc && !quiet) fprintf(stderr, "  captured packets in %s\n", lo->write);
    stream_free(c.st);
    cls_info_free(&info);
    return rc;
}

/* ---- stats --live ---- */

enum { P_TCP, P_UDP, P_ICMP, P_ICMP6, P_OTHER, NPROTO };
static const char *proto_names[NPROTO] = { "tcp", "udp", "icmp", "icmpv6", "other" };

typedef struct {
    const cli_live *lo;
    int json;
    flow_table *ft;
    capture_side *cs;
    uint64_t packets, bytes, ipv4, ipv6, not_ip, unknown_link, malformed, truncated;
    uint64_t flows[NPROTO], ended, handshakes, fin, rst, idle;
    double last_t; uint64_t last_packets, last_bytes, last_flows;
} stats_live_ctx;

static int proto_class(int p) { return p == 6 ? P_TCP : p == 17 ? P_UDP : p == 1 ? P_ICMP : p == 58 ? P_ICMP6 : P_OTHER; }

static void sl_end(void *vc, flow *f) {
    stats_live_ctx *c = vc;
    c->flows[proto_class(f->key.proto)]++;
    c->ended++;
    if (f->end_reason == END_IDLE) c->idle++;
    if (f->key.proto == 6) {
        c->handshakes += (f->tcp & (FT_SYN_A | FT_SYNACK_B | FT_ACK_A)) == (FT_SYN_A | FT_SYNACK_B | FT_ACK_A);
        c->fin += (f->tcp & (FT_FIN_A | FT_FIN_B)) == (FT_FIN_A | FT_FIN_B);
        c->rst += (f->tcp & FT_RST) != 0;
    }
}

static void sl_pkt(void *vc, const cap_pkt *p) {
    stats_live_ctx *c = vc;
    c->packets++;
    c->bytes += p->len;
    if (p->caplen < p->len) c->truncated++;
    pkt_info pi;
    int st = pkt_parse(p->linktype, p->data, p->caplen, p->len, &pi);
    if (st == PKT_IP) {
        if (pi.ipver == 4) c->ipv4++; else c->ipv6++;
        int dir;
        flow_table_add(c->ft, &pi, p->ts_ns, p->len, &dir);
    } else if (st == PKT_NOT_IP) c->not_ip++;
    else if (st == PKT_UNKNOWN_LINK) c->unknown_link++;
    else c->malformed++;
}

static void sl_tick(void *vc, double el, int64_t wall) {
    stats_live_ctx *c = vc;
    flow_table_advance(c->ft, wall - 1000000000);
    if (!(c->lo->interval > 0) || el - c->last_t < c->lo->interval) return;
    double dt = el - c->last_t;
    live_counters lc;
    live_counters_get(c->cs->src, &lc);
    uint64_t total = flow_table_counters(c->ft)->flows;
    double pps = (double)(c->packets - c->last_packets) / dt, mbps = (double)(c->bytes - c->last_bytes) * 8 / dt / 1e6;
    double fps = (double)(total - c->last_flows) / dt;
    if (c->json)
        printf("{\"t\": %.1f, \"packets\": %llu, \"packets_per_s\": %.0f, \"mbit_per_s\": %.3f, \"flows_active\": %zu, \"flows_total\": %llu, "
               "\"new_flows_per_s\": %.1f, \"kernel_drops\": %llu, \"interface_drops\": %llu}\n",
               el, (unsigned long long)c->packets, pps, mbps, flow_table_active(c->ft), (unsigned long long)total, fps,
               (unsigned long long)lc.kernel_drops, (unsigned long long)lc.if_drops);
    else
        printf("%7.1f s  packets %10llu  %9.0f/s  %9.3f Mbit/s  flows active %7zu  total %8llu  new %7.1f/s  drops kernel %llu if %llu\n",
               el, (unsigned long long)c->packets, pps, mbps, flow_table_active(c->ft), (unsigned long long)total, fps,
               (unsigned long long)lc.kernel_drops, (unsigned long long)lc.if_drops);
    fflush(stdout);
    c->last_t = el; c->last_packets = c->packets; c->last_bytes = c->bytes; c->last_flows = total;
}

int stats_live(const cli_live *lo, const flow_cfg *fc0, int json) {
    const char *V = "stats";
    stats_live_ctx c = { .lo = lo, .json = json };
    c.ft = flow_table_new(fc0, sl_end, &c);
    if (!c.ft) return cli_error(V, "out of memory");
    capture_side cs;
    if (open_capture(&cs, lo, V) != 0) { flow_table_free(c.ft); return 1; }
    c.cs = &cs;
    fprintf(stderr, "pktlm stats: capturing on %s%s%s (Ctrl-C ends)\n", lo->cap.iface, lo->cap.filter ? " with filter " : "",
            lo->cap.filter ? lo->cap.filter : "");
    double el;
    int intr;
    int rc = capture_loop(&cs, lo, sl_pkt, sl_tick, &c, &el, &intr);
    size_t open_at_end = flow_table_active(c.ft);
    flow_table_flush(c.ft);
    const flow_counters *fc = flow_table_counters(c.ft);
    live_counters lc;
    int kok = live_counters_get(cs.src, &lc) == 0;
    if (close_capture(&cs)) rc = 1;
    if (json) {
        printf("{\"summary\": true, \"interface\": ");
        cli_json_str(stdout, lo->cap.iface);
        printf(", \"packets\": %llu, \"bytes\": %llu, \"seconds\": %.3f, \"interrupted\": %s, \"ipv4_packets\": %llu, \"ipv6_packets\": %llu, "
               "\"non_ip_packets\": %llu, \"unknown_link_packets\": %llu, \"malformed_packets\": %llu, \"truncated_packets\": %llu, "
               "\"flows\": {\"total\": %llu",
               (unsigned long long)c.packets, (unsigned long long)c.bytes, el, intr ? "true" : "false", (unsigned long long)c.ipv4,
               (unsigned long long)c.ipv6, (unsigned long long)c.not_ip, (unsigned long long)c.unknown_link,
               (unsigned long long)c.malformed, (unsigned long long)c.truncated, (unsigned long long)c.ended);
        for (int k = 0; k < NPROTO; k++) printf(", \"%s\": %llu", proto_names[k], (unsigned long long)c.flows[k]);
        printf(", \"tcp_handshake\": %llu, \"tcp_fin_both\": %llu, \"tcp_rst\": %llu, \"idle_expired\": %llu, \"evicted\": %llu, "
               "\"active_peak\": %llu, \"open_at_end\": %zu}, \"kernel_counters\": %s, \"kernel_drops\": %llu, \"interface_drops\": %llu, "
               "\"pktlm_drops\": 0}\n",
               (unsigned long long)c.handshakes, (unsigned long long)c.fin, (unsigned long long)c.rst, (unsigned long long)c.idle,
               (unsigned long long)fc->evicted, (unsigned long long)fc->active_peak, open_at_end, kok ? "true" : "false",
               (unsigned long long)lc.kernel_drops, (unsigned long long)lc.if_drops);
    } else {
        printf("interface      %s%s\n", lo->cap.iface, intr ? " (stopped by a signal)" : "");
        printf("packets        %llu (IPv4 %llu, IPv6 %llu, non-IP %llu, unknown link %llu, malformed %llu) in %.3f s\n",
               (unsigned long long)c.packets, (unsigned long long)c.ipv4, (unsigned long long)c.ipv6, (unsigned long long)c.not_ip,
               (unsigned long long)c.unknown_link, (unsigned long long)c.malformed, el);
        printf("bytes          %llu on the wire (%llu packets cut by --snaplen)\n", (unsigned long long)c.bytes, (unsigned long long)c.truncated);
        printf("flows          %llu:", (unsigned long long)c.ended);
        for (int k = 0; k < NPROTO; k++) printf(" %s %llu", proto_names[k], (unsigned long long)c.flows[k]);
        printf(" (%llu ended idle, %zu open at the end, peak %llu active)\n", (unsigned long long)c.idle, open_at_end,
               (unsigned long long)fc->active_peak);
        printf("tcp            %llu handshakes, %llu FIN both ways, %llu RST\n", (unsigned long long)c.handshakes,
               (unsigned long long)c.fin, (unsigned long long)c.rst);
        printf("evicted        %llu flows (table full at --max-flows %zu)\n", (unsigned long long)fc->evicted, fc0->max_flows);
        printf("drops          kernel %s%llu, interface %llu, pktlm 0\n", kok ? "" : "? ", (unsigned long long)lc.kernel_drops,
               (unsigned long long)lc.if_drops);
    }
    fflush(stdout);
    flow_table_free(c.ft);
    return rc;
}
