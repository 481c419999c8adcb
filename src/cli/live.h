/* `--live IFACE` for classify and stats (docs/live.md): the options both share, and the two
 * live loops. The library does the work (capture/live.c: the interface; corpus/stream.c:
 * flows and their tokens as packets arrive; models/clsworkers.c: the classifier on worker
 * threads); this is the loop, the output lines and the summary. */
#ifndef PKTLM_CLI_LIVE_H
#define PKTLM_CLI_LIVE_H
#include <stdint.h>
#include "capture/live.h"
#include "corpus/prep.h"
#include "cli/opts.h"

typedef struct {
    live_cfg cap;            /* cap.iface = --live (NULL: read files) */
    const char *write;       /* --write FILE.pcap: what was captured */
    double duration;         /* --duration S: stop after S seconds (0 = until Ctrl-C) */
    long count;              /* --count N: stop after N packets (0 = no limit) */
    double interval;         /* stats: a running summary line every S seconds (default 1; 0 = none) */
    int workers, queue;      /* classify: model threads, decision queue length */
    long max_flows;          /* active flows kept (default 65536 live) */
} cli_live;

void cli_live_default(cli_live *lo);

/* The live options as table entries (opts.h), for a verb's option table: the ones both verbs
 * take, then stats' and classify's own. */
#define OPT_LIVE(lo) \
    OPT_SECTION("Live capture (docs/live.md; needs CAP_NET_RAW: root, or `setcap cap_net_raw,cap_net_admin=eip pktlm`):"), \
    OPT_STR("--live", &(lo).cap.iface, "IFACE", "read packets from a network interface instead of files ('any': all of them)"), \
    OPT_STR("--filter", &(lo).cap.filter, "BPF", "capture filter in tcpdump's syntax ('tcp port 443')"), \
    OPT_INT_IN("--snaplen", &(lo).cap.snaplen, 64, 262144, "N", "bytes kept of each packet"), \
    OPT_FLAG("--promisc", &(lo).cap.promisc, 1, "promiscuous mode"), \
    OPT_INT_IN("--buffer", &(lo).cap.buffer_mb, 1, 2047, "MB", "kernel capture buffer: a burst waits there"), \
    OPT_DOUBLE_IN("--duration", &(lo).duration, 0, 1e9, "S", "stop after S seconds (default: at Ctrl-C or SIGTERM, which end\n" \
                  "cleanly: open flows ended, the summary printed)", .nodef = 1), \
    OPT_LONG_IN("--count", &(lo).count, 0, 1e15, "N", "stop after N packets", .nodef = 1), \
    OPT_STR("--write", &(lo).write, "F.pcap", "keep the captured packets (nanosecond pcap), to check results later")
#define OPT_LIVE_STATS(lo) \
    OPT_DOUBLE_IN("--interval", &(lo).interval, 0, 86400, "S", "a running summary line every S seconds (0: none)")
#define OPT_LIVE_CLASSIFY(lo) \
    OPT_INT_IN("--workers", &(lo).workers, 1, 64, "N", "threads running the classifier (each with --threads N OpenMP\n" \
               "threads, default 1 with --live)"), \
    OPT_INT_IN("--queue", &(lo).queue, 1, 1 << 24, "N", "decisions waiting for a worker; beyond it a decision is dropped\n" \
               "and counted"), \
    OPT_LONG_IN("--max-flows", &(lo).max_flows, 16, 1 << 30, "N", "active flows kept; when full the least recently active\n" \
                "is evicted and decided")

/* The prediction's columns of a classify line, the same for files and --live: fmt 1 (CSV)
 * "LABEL,PROB,TOP1,P1,TOP2,P2,TOP3,P3\n", fmt 2 (JSON) "LABEL, \"prob\": P, \"top3\": [...]}\n"
 * (after "\"label\": "). p: the K probabilities; top: their three best (models/clshead.h:
 * cls_top; -1 past K). */
void classify_print_top3(int fmt, char **names, const float *p, const int *top);

/* classify --live: pc = the classifier's prep options (resolved by cmd_classify; bpe: pc->bpe
 * its tokenizer), tf its token format, K = decide at the K-th packet. fmt 0 text, 1 csv, 2
 * json. Returns the exit status. */
int classify_live(const cli_live *lo, const char *model_path, const prep_cfg *pc, const tok_format *tf, int K, int fmt, int batch,
                  int threads, int quiet);
/* stats --live: the flow table options as for files. json: summary as JSON (running lines as
 * JSON lines). Returns the exit status. */
int stats_live(const cli_live *lo, const flow_cfg *fc, int json);
#endif
