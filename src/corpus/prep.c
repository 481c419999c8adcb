#include "corpus/prep.h"
#include "corpus/vocab.h"
#include "corpus/shard.h"
#include "corpus/tcpfields.h"
#include "corpus/bigrams.h"
#include "corpus/bpe.h"
#include "corpus/arrow.h"
#include "capture/capture.h"
#include "util/util.h"
#include "util/sha256.h"
#include "util/input.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>

void prep_cfg_default(prep_cfg *c) {
    memset(c, 0, sizeof *c);
    c->unit = PREP_UNIT_FLOW; c->split = PREP_SPLIT_FLOW;
    c->ratio[0] = 8; c->ratio[1] = 1; c->ratio[2] = 1;
    c->seed = 1;
    c->max_pkts = 8; c->min_flow_pkts = 1; c->max_flow_pkts = 0;
    c->payload = 64; c->max_bytes = 192; c->window = 2048;
    c->drop_dhcp = 1; c->anonymise = 1; c->dedup = 1; c->hash_inputs = 1;
    anon_cfg_default(&c->anon);
    flow_cfg_default(&c->flows);
}

uint32_t prep_keep_bytes(const prep_cfg *c, const pkt_info *pi) {
    /* headers = everything before the transport payload (IP, extension headers, TCP
     * options, ...), then `payload` bytes, all capped at max_bytes */
    uint64_t hdr = pi->payload_off > pi->l3_off ? pi->payload_off - pi->l3_off : pi->l3_caplen;
    uint64_t k = hdr + (uint64_t)(c->payload > 0 ? c->payload : 0);
    if (k > pi->l3_caplen) k = pi->l3_caplen;
    if (k > (uint64_t)c->max_bytes) k = (uint64_t)c->max_bytes;
    return (uint32_t)k;
}

void prep_flow_begin(prep_flow *pf, const anon_ctx *a, uint64_t flow_no, int label, int64_t t0_ns) {
    memset(&pf->af, 0, sizeof pf->af);
    if (a) anon_flow_init(a, &pf->af, flow_no);
    tok_seq_begin(&pf->seq, label, t0_ns);
    pf->npk = 0;
}

static void cut_anon(anon_ctx *a, const anon_flow *af, const uint8_t *frame, const pkt_info *pi,
                     int dir, uint8_t *buf, uint32_t keep) {
    memcpy(buf, frame + pi->l3_off, keep);
    if (a) anon_packet(a, af, dir, buf, keep);
}

void prep_flow_packet(prep_flow *pf, const prep_cfg *c, anon_ctx *a, const uint8_t *frame, const pkt_info *pi,
                      int64_t ts_ns, int dir) {
    uint8_t buf[65536];
    uint32_t keep = prep_keep_bytes(c, pi);
    cut_anon(a, &pf->af, frame, pi, dir, buf, keep);
    tok_seq_packet(&pf->seq, buf, keep, ts_ns, dir);
    pf->npk++;
}

void prep_flow_free(prep_flow *pf) { tok_seq_free(&pf->seq); }

/* ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t off;
    uint32_t len;
    int32_t label;
    uint32_t file, flow;
    uint64_t key;
    int64_t start_ns;
    uint32_t group;
    uint8_t split, dup;
} pseq;

typedef struct {
    char *path;
    int label;
    int ok;                      /* 0 skipped (unreadable), 1 read, 2 read with an error part way */
    char sha[65];
    char note[512];
    uint64_t bytes, packets, flows, seqs;
} pfile;

typedef struct {
    prep_flow pf;
    int label, drop;
} fstate;

enum { D_FILTER, D_MIN, D_MAX, D_FORMAT, ND };

struct prep {
    prep_cfg cfg;
    label_set labels;
    const flow_labels *fl;
    char *cmdline;
    pfile *files;
    int nfiles, files_cap;
    tok_t *tok;
    size_t ntok, tokcap;
    pseq *seqs;
    size_t nseq, seqcap;
    int oom;
    /* the capture being read */
    int cur;
    anon_ctx *anon;
    anon_dict dict;
    tok_seq win;
    uint32_t win_no;
    int win_open;
    /* counters */
    uint64_t packets, bytes, ip_packets, not_ip, unknown_link, malformed, orphans, in_bytes;
    uint64_t flows, flows_kept, unlabelled_flows, dropped[ND];
    uint64_t scrubbed_ip, scrubbed_mac, scrubbed_text_ip, scrubbed_text_mac;
    uint64_t flows_pruned;       /* flows whose label had too few flows: now unlabelled */
    int labels_pruned;
    uint64_t dup_removed[NSPLIT], dup_within;
    uint64_t split_seqs[NSPLIT], split_toks[NSPLIT], split_groups[NSPLIT];
    uint64_t *by_label;          /* [NSPLIT][n_labels + 1]: last = unlabelled */
    progress *prog;
    double prog_total;
    const volatile sig_atomic_t *stop;   /* set (Ctrl-C): prep_add_file returns -2 */
    prep_flow_fn each_fn;        /* prep_each_flow: hand flows out instead of pooling */
    void *each_ctx;
    uint32_t file_base;          /* added to the file index for the anonymisation key */
    uint8_t buf[65536];
    tok_t pk[65536 + 8];     /* one packet-unit sequence */
    tok_format tfb;          /* bpe: the format of cfg.bpe's ids */
};

/* the token format of this prep (bpe: its tokenizer's ids) */
static const tok_format *fmt_of(const prep *p) { return p->cfg.tokens == TOKFMT_BPE ? &p->tfb : tokfmt_get(p->cfg.tokens); }

static uint64_t mix(uint64_t x) { uint64_t s = x; return splitmix64(&s); }

prep *prep_new(const prep_cfg *cfg, const label_set *labels, const flow_labels *fl, int argc, char **argv) {
    prep *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cfg = *cfg;
    if (cfg->tokens == TOKFMT_BPE) {   /* the caller checked that the tokenizer has <|endoftext|> and "\n" */
        if (!cfg->bpe) { free(p); return NULL; }
        tokfmt_bpe(&p->tfb, bpe_n_ids(cfg->bpe), bpe_added_id(cfg->bpe, "<|endoftext|>"), bpe_text_id(cfg->bpe, "\n"));
    }
    /* a capture window interleaves flows: one address map per capture keeps it coherent */
    if (p->cfg.unit == PREP_UNIT_CAPTURE) p->cfg.anon.scope = ANON_SCOPE_CAPTURE;
    for (int i = 0; labels && i < labels->n; i++) label_set_add(&p->labels, labels->names[i]);
    p->fl = fl;
    size_t L = 8;
    for (int i = 0; i < argc; i++) L += strlen(argv[i]) + 1;
    p->cmdline = calloc(1, L);
    if (p->cmdline) strcpy(p->cmdline, "pktlm");   /* argv[0] is the verb */
    for (int i = 0; p->cmdline && i < argc; i++) { strcat(p->cmdline, " "); strcat(p->cmdline, argv[i]); }
    p->anon = calloc(1, sizeof *p->anon);
    tok_seq_init(&p->win);
    if (!p->cmdline || !p->anon) { prep_free(p); return NULL; }
    return p;
}

void prep_free(prep *p) {
    if (!p) return;
    for (int i = 0; i < p->nfiles; i++) free(p->files[i].path);
    anon_dict_free(&p->dict);
    free(p->files); free(p->tok); free(p->seqs); free(p->cmdline); free(p->anon); free(p->by_label);
    tok_seq_free(&p->win);
    label_set_free(&p->labels);
    free(p);
}

uint64_t prep_bytes_done(const prep *p) { return p->in_bytes; }
void prep_set_progress(prep *p, progress *pr, double total_bytes) { p->prog = pr; p->prog_total = total_bytes; }
void prep_set_interrupt(prep *p, const volatile sig_atomic_t *flag) { p->stop = flag; }
static int stopped(const prep *p) { return p->stop && *p->stop; }

/* Append one finished sequence to the pool. */
static void push_seq(prep *p, const tok_t *t, size_t n, int label, uint32_t flow_id, uint64_t key, int64_t start) {
    if (p->oom) return;
    if (p->ntok + n > p->tokcap) {
        size_t nc = p->tokcap ? p->tokcap : 1 << 20;
        while (nc < p->ntok + n) nc *= 2;
        tok_t *q = realloc(p->tok, nc * sizeof *q);
        if (!q) { p->oom = 1; return; }
        p->tok = q; p->tokcap = nc;
    }
    if (p->nseq == p->seqcap) {
        size_t nc = p->seqcap ? p->seqcap * 2 : 4096;
        pseq *q = realloc(p->seqs, nc * sizeof *q);
        if (!q) { p->oom = 1; return; }
        p->seqs = q; p->seqcap = nc;
    }
    memcpy(p->tok + p->ntok, t, n * sizeof *t);
    p->seqs[p->nseq++] = (pseq){ p->ntok, (uint32_t)n, label, (uint32_t)p->cur, flow_id, key, start, 0, 0, 0 };
    p->ntok += n;
    p->files[p->cur].seqs++;
}

/* Identity of a flow for leak checks and grouping: original 5-tuple + first packet time. */
static uint64_t flow_key_hash(const flow *f) {
    uint64_t h = mix((uint64_t)f->key.ipver << 8 | f->key.proto);
    h = mix(h ^ ((uint64_t)f->key.port[0] << 16 | f->key.port[1]));
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 16; i += 8) h = mix(h ^ rd64le(f->key.addr[s] + i));   /* same on any host */
    return mix(h ^ (uint64_t)f->first_ns);
}

/* A flow the token format has no sequence for: 1 (fields: not TCP, no packet with a whole TCP
 * header, or --complete-only and not complete), else 0. q is ended. */
int prep_seq_unwanted(const prep_cfg *c, const flow *f, const tok_seq *q) {
    if (c->tokens != TOKFMT_FIELDS) return 0;
    if (f->key.proto != 6 || q->npkts == 0) return 1;
    return c->complete_only && q->n > 0 && q->t[0] != TCPF_COMPLETE;
}

static void on_end(void *ctx, flow *f) {
    prep *p = ctx;
    fstate *s = f->user;
    if (!s) return;
    f->user = NULL;
    uint64_t total = f->pkts[0] + f->pkts[1];
    const prep_cfg *c = &p->cfg;
    if (p->each_fn) {
        int keep = !s->drop && total >= (uint64_t)c->min_flow_pkts && !(c->max_flow_pkts > 0 && total > (uint64_t)c->max_flow_pkts);
        tok_seq *q = &s->pf.seq;
        if (keep) tok_seq_end(q);
        if (keep && (prep_seq_unwanted(c, f, q) == 1)) keep = 0;
        p->each_fn(p->each_ctx, f, keep && !q->oom ? q->t : NULL, keep && !q->oom ? q->n : 0);
        prep_flow_free(&s->pf);
        free(s);
        return;
    }
    if (s->drop) p->dropped[D_FILTER]++;
    else if (total < (uint64_t)c->min_flow_pkts) p->dropped[D_MIN]++;
    else if (c->max_flow_pkts > 0 && total > (uint64_t)c->max_flow_pkts) p->dropped[D_MAX]++;
    else if (tok_seq_end(&s->pf.seq), prep_seq_unwanted(c, f, &s->pf.seq)) p->dropped[D_FORMAT]++;   /* ended: fields knows its type */
    else {
        p->flows_kept++;
        if (s->label < 0) p->unlabelled_flows++;
        uint64_t key = flow_key_hash(f);
        tok_seq *q = &s->pf.seq;
        if (c->unit == PREP_UNIT_FLOW) {
            if (q->oom) p->oom = 1;
            else push_seq(p, q->t, q->n, s->label, (uint32_t)f->id, key, f->first_ns);
        } else if (c->unit == PREP_UNIT_PACKET && !q->oom) {
            /* one sequence per packet: BOS LABEL PKT DIR TIME bytes EOS, the time token
             * being the gap since the previous packet of its flow */
            size_t i = 2, qn = q->n - 1;   /* without the EOS */
            while (i < qn) {
                size_t j = i + 1;
                while (j < qn && q->t[j] != TOK_PKT) j++;
                size_t n = 0;
                p->pk[n++] = TOK_BOS;
                p->pk[n++] = (tok_t)tok_label(s->label);
                for (size_t k = i; k < j && n < sizeof p->pk / sizeof p->pk[0] - 1; k++) p->pk[n++] = q->t[k];
                p->pk[n++] = TOK_EOS;
                push_seq(p, p->pk, n, s->label, (uint32_t)f->id, key, f->first_ns);
                i = j;
            }
        }
    }
    prep_flow_free(&s->pf);
    free(s);
}

int prep_flow_filtered(const prep_cfg *c, const flow *f) {
    uint16_t a = f->key.port[0], b = f->key.port[1];
    if (c->drop_dhcp && f->key.proto == 17 &&
        ((a == 67 || a == 68) && (b == 67 || b == 68) ? 1 : (a == 546 || a == 547) && (b == 546 || b == 547)))
        return 1;
    for (int i = 0; i < c->ndrop_protos; i++) if (f->key.proto == c->drop_protos[i]) return 1;
    if (f->key.proto == 6 || f->key.proto == 17 || f->key.proto == 132)
        for (int i = 0; i < c->ndrop_ports; i++) if (a == c->drop_ports[i] || b == c->drop_ports[i]) return 1;
    return 0;
}

/* --unit capture: append one packet to the current window of the capture. */
static void window_packet(prep *p, fstate *s, const uint8_t *frame, const pkt_info *pi, int64_t ts, int dir) {
    const prep_cfg *c = &p->cfg;
    uint32_t keep = prep_keep_bytes(c, pi);
    if (keep + TOK_PKT_OVERHEAD + 3 > (uint32_t)c->window) keep = (uint32_t)c->window - TOK_PKT_OVERHEAD - 3;
    int flabel = p->files[p->cur].label;
    if (p->win_open && p->win.n + keep + TOK_PKT_OVERHEAD + 1 > (size_t)c->window) {
        tok_seq_end(&p->win);
        if (p->win.oom) p->oom = 1;
        else push_seq(p, p->win.t, p->win.n, flabel, 0, mix(((uint64_t)p->cur << 32) + p->win_no), ts);
        int64_t clock = p->win.clock_ns;
        p->win_no++;
        tok_seq_begin(&p->win, flabel, clock);
    }
    if (!p->win_open) { tok_seq_begin(&p->win, flabel, ts); p->win_open = 1; p->win_no = 0; }
    cut_anon(c->anonymise ? p->anon : NULL, &s->pf.af, frame, pi, dir, p->buf, keep);
    tok_seq_packet(&p->win, p->buf, keep, ts, dir);
}

typedef struct { int fd; char *hex; int rc; } hash_job;
static void *hash_thread(void *v) { hash_job *j = v; j->rc = sha256_fd(j->fd, j->hex); return NULL; }

/* The record of the next input (captures and Arrow files alike), now p->cur; NULL out of memory. */
static pfile *new_file(prep *p, const char *path, int label) {
    if (p->nfiles == p->files_cap) {
        int nc = p->files_cap ? p->files_cap * 2 : 64;
        pfile *q = realloc(p->files, (size_t)nc * sizeof *q);
        if (!q) return NULL;
        p->files = q; p->files_cap = nc;
    }
    p->cur = p->nfiles++;
    pfile *pf = &p->files[p->cur];
    memset(pf, 0, sizeof *pf);
    pf->path = strdup(path);
    pf->label = label;
    return pf;
}

int prep_add_file(prep *p, const char *path, int label, char *err, size_t errlen) {
    err[0] = 0;
    pfile *pf = new_file(p, path, label);
    if (!pf) { snprintf(err, errlen, "out of memory"); return -1; }
    /* One open per input, read from the start by each pass: a FIFO or a process substitution
     * cannot be opened or read twice, so input_open copies such a stream once (hashing it). */
    input_file in;
    if (input_open(&in, path, err, errlen) != 0) {
        if (errno == EINTR && stopped(p)) return -2;
        snprintf(pf->note, sizeof pf->note, "%s", err);
        return -1;
    }
    /* hash a regular file on a second thread while we read it (pread: the page cache serves both) */
    hash_job job = { in.fd, pf->sha, -1 };
    pthread_t th;
    int threaded = 0;
    if (in.spooled && p->cfg.hash_inputs) memcpy(pf->sha, in.sha, sizeof pf->sha);
    else threaded = p->cfg.hash_inputs && pthread_create(&th, NULL, hash_thread, &job) == 0;

    const prep_cfg *c = &p->cfg;
    anon_init(p->anon, &c->anon, anon_key(c->seed, c->secret, p->file_base + (uint32_t)p->cur));
    uint64_t done_before = 0;
    for (int i = 0; i < p->cur; i++) done_before += p->files[i].bytes;
    /* progress: with two passes, each counts for half of the file */
    uint64_t fsize = in.size, half = 0;
    int two = 0;
    if (c->anonymise && c->anon.addr != ANON_ADDR_KEEP) {
        /* first pass: the addresses and MACs in this capture's headers, to find them in
         * payloads too (reading is ~10x faster than the rest of prep) */
        anon_dict_clear(&p->dict);
        cap_reader r0;
        if (cap_open_fd(&r0, in.fd, path) == 0) {
            cap_pkt k0;
            pkt_info pi0;
            two = 1;
            uint64_t np0 = 0;
            while (!stopped(p) && cap_next(&r0, &k0) == 1) {
                if ((++np0 & 16383) == 0 && p->prog) {
                    p->in_bytes = done_before + r0.bytes_read / 2;
                    progress_update(p->prog, (double)p->in_bytes, p->prog_total, NULL);
                }
                int st0 = pkt_parse(k0.linktype, k0.data, k0.caplen, k0.len, &pi0);
                if (k0.linktype == LT_ETHERNET && k0.caplen >= 12) { anon_dict_add_mac(&p->dict, k0.data); anon_dict_add_mac(&p->dict, k0.data + 6); }
                if (st0 != PKT_IP) continue;
                anon_dict_add_ip(&p->dict, pi0.ipver, pi0.src);
                anon_dict_add_ip(&p->dict, pi0.ipver, pi0.dst);
            }
        }
        cap_close(&r0);
        p->anon->dict = &p->dict;
    }
    cap_reader r;
    memset(&r, 0, sizeof r);
    if (input_rewind(&in) != 0) snprintf(r.err, sizeof r.err, "%s: %s", path, strerror(errno));
    if (r.err[0] || cap_open_fd(&r, in.fd, path) != 0) {
        snprintf(err, errlen, "%s", r.err);
        snprintf(pf->note, sizeof pf->note, "%s", r.err);
        if (threaded) pthread_join(th, NULL);
        pf->sha[0] = 0;
        input_close(&in);
        return -1;
    }
    pf->ok = 1;
    anon_ctx *an = c->anonymise ? p->anon : NULL;
    flow_table *ft = flow_table_new(&c->flows, on_end, p);
    if (!ft) { snprintf(err, errlen, "out of memory"); p->oom = 1; }
    p->win_open = 0;
    uint64_t flows0 = 0;
    if (two) half = fsize / 2;
    cap_pkt k;
    int rc = 0;
    while (ft && (rc = cap_next(&r, &k)) == 1) {
        p->packets++;
        pf->packets++;
        p->bytes += k.caplen;
        pkt_info pi;
        int st = pkt_parse(k.linktype, k.data, k.caplen, k.len, &pi);
        if (st != PKT_IP) {
            if (st == PKT_NOT_IP) p->not_ip++; else if (st == PKT_UNKNOWN_LINK) p->unknown_link++; else p->malformed++;
            continue;
        }
        p->ip_packets++;
        int dir;
        flow *f = flow_table_add(ft, &pi, k.ts_ns, k.len, &dir);
        if (!f) { p->orphans++; continue; }
        fstate *s = f->user;
        if (!s) {
            s = calloc(1, sizeof *s);
            if (!s) { p->oom = 1; break; }
            f->user = s;
            s->label = label;
            if (p->fl) {
                const char *nm = flow_labels_find(p->fl, path, f->key.ipver, f->key.proto, f->key.addr[0], f->key.port[0],
                                                  f->key.addr[1], f->key.port[1]);
                if (nm) s->label = label_set_find(&p->labels, nm);
            }
            s->drop = prep_flow_filtered(c, f);
            if (c->tokens == TOKFMT_BPE) tok_seq_set_bpe(&s->pf.seq, c->bpe, &p->tfb);
            else tok_seq_set_format(&s->pf.seq, c->tokens);
            prep_flow_begin(&s->pf, an, f->id, s->label, f->first_ns);
        }
        if (s->drop) continue;
        if (c->unit == PREP_UNIT_CAPTURE) window_packet(p, s, k.data, &pi, k.ts_ns, dir);
        else if (s->pf.npk < (uint32_t)c->max_pkts) prep_flow_packet(&s->pf, c, an, k.data, &pi, k.ts_ns, dir);
        if ((p->packets & 4095) == 0) {
            if (stopped(p)) break;
            p->in_bytes = done_before + half + (two ? r.bytes_read / 2 : r.bytes_read);
            if (p->prog) progress_update(p->prog, (double)p->in_bytes, p->prog_total, NULL);
        }
    }
    if (rc < 0) { snprintf(err, errlen, "%s", r.err); snprintf(pf->note, sizeof pf->note, "%s", r.err); pf->ok = 2; }
    if (ft) {
        flow_table_flush(ft);
        flows0 = flow_table_counters(ft)->flows;
        flow_table_free(ft);
    }
    if (c->unit == PREP_UNIT_CAPTURE && p->win_open && p->win.n > 2) {
        tok_seq_end(&p->win);
        push_seq(p, p->win.t, p->win.n, label, 0, mix(((uint64_t)p->cur << 32) + p->win_no), 0);
    }
    p->scrubbed_ip += p->anon->scrubbed_ip;
    p->scrubbed_mac += p->anon->scrubbed_mac;
    p->scrubbed_text_ip += p->anon->scrubbed_text_ip;
    p->scrubbed_text_mac += p->anon->scrubbed_text_mac;
    pf->flows = flows0;
    p->flows += flows0;
    pf->bytes = r.bytes_read;
    cap_close(&r);
    if (threaded) {
        pthread_join(th, NULL);
        if (job.rc) pf->sha[0] = 0;
    }
    input_close(&in);
    p->in_bytes = 0;
    for (int i = 0; i < p->nfiles; i++) p->in_bytes += p->files[i].bytes;
    if (p->oom) { snprintf(err, errlen, "out of memory"); return -1; }
    if (stopped(p)) { snprintf(err, errlen, "interrupted"); return -2; }
    return pf->ok == 2 ? 1 : 0;
}

int prep_add_arrow(prep *p, const char *path, int label, char *err, size_t errlen) {
    err[0] = 0;
    if (p->cfg.tokens != TOKFMT_FIELDS) { snprintf(err, errlen, "%s: tcpflowgen's files hold field tokens (--tokens fields)", path); return -1; }
    pfile *pf = new_file(p, path, label);
    if (!pf) { snprintf(err, errlen, "out of memory"); return -1; }
    arrow_seqs a;
    if (arrow_read_lists(path, "token_sequences", &a, err, errlen) != 0) { snprintf(pf->note, sizeof pf->note, "%s", err); return -1; }
    pf->ok = 1;
    if (p->cfg.hash_inputs && sha256_file(path, pf->sha) != 0) pf->sha[0] = 0;
    struct stat st;
    pf->bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    tok_t *t = NULL;
    size_t cap = 0;
    int rc = 0;
    uint64_t nbad = 0;
    for (uint64_t i = 0; i < a.n && !p->oom; i++) {
        size_t n = (size_t)(a.offs[i + 1] - a.offs[i]), bad = 0;
        if (n + 2 > cap) {
            cap = (n + 2) * 2;
            tok_t *q = realloc(t, cap * sizeof *t);
            if (!q) { p->oom = 1; break; }
            t = q;
        }
        long k = tcpf_from_seed(a.values + a.offs[i], n, (tok_t)tokfmt_label(tokfmt_get(TOKFMT_FIELDS), label), t, &bad);
        if (k < 0) {   /* the first bad sequence is named; the others counted */
            if (!nbad++ && n == 0) snprintf(err, errlen, "%s: sequence %llu is empty (a flow has its type token)", path, (unsigned long long)i);
            else if (nbad == 1)
                snprintf(err, errlen, "%s: sequence %llu, token %zu: %d is not a tcpflowgen flow token (a flow starts with its "
                                      "type 65536..65539, ids stay below 65546)", path, (unsigned long long)i, bad,
                         bad < n ? a.values[a.offs[i] + bad] : -1);
            pf->ok = 2; rc = 1;
            continue;
        }
        if (p->cfg.complete_only && t[0] != TCPF_COMPLETE) { p->flows++; pf->flows++; p->dropped[D_FORMAT]++; continue; }
        /* the flow's identity: its tokens (identical flows group into one split) */
        uint64_t h = 0xcbf29ce484222325ull;
        for (long j = 2; j < k; j++) h = (h ^ (uint64_t)t[j]) * 0x100000001b3ull;
        uint64_t np = 0;
        for (long j = 0; j < k; j++) np += t[j] == TCPF_FORWARD || t[j] == TCPF_REVERSE;
        p->packets += np; pf->packets += np;
        p->flows++; pf->flows++; p->flows_kept++;
        if (label < 0) p->unlabelled_flows++;
        push_seq(p, t, (size_t)k, label, (uint32_t)i, mix(h), 0);
    }
    if (nbad) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, "; %llu of %llu sequences left out", (unsigned long long)nbad, (unsigned long long)a.n);
        snprintf(pf->note, sizeof pf->note, "%s", err);
    }
    free(t);
    arrow_seqs_free(&a);
    p->in_bytes += pf->bytes;
    if (p->oom) { snprintf(err, errlen, "out of memory"); return -1; }
    return rc;
}

int prep_each_flow(const prep_cfg *cfg, const char *path, uint32_t file_index, prep_flow_fn fn, void *ctx,
                   uint64_t *bytes, char *err, size_t errlen) {
    prep_cfg c = *cfg;
    c.unit = PREP_UNIT_FLOW;
    c.hash_inputs = 0;
    prep *p = prep_new(&c, NULL, NULL, 0, NULL);
    if (!p) { snprintf(err, errlen, "out of memory"); return -1; }
    p->each_fn = fn; p->each_ctx = ctx; p->file_base = file_index;
    int rc = prep_add_file(p, path, -1, err, errlen);
    if (bytes) *bytes = p->nfiles ? p->files[0].bytes : 0;
    prep_free(p);
    return rc;
}

/* ---------------------------------------------------------------------------- */
/* Splits */

typedef struct { uint64_t key; int32_t label; int64_t start; uint32_t first; uint8_t split; } group;

static int cmp_time(const void *a, const void *b) {
    const group *x = *(group *const *)a, *y = *(group *const *)b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Cut n items in order into train / val / test by the ratios. */
static void cut(group **g, size_t n, const double *ratio) {
    double sum = ratio[0] + ratio[1] + ratio[2];
    size_t ntr = (size_t)((double)n * ratio[0] / sum + 0.5);
    size_t nva = (size_t)((double)n * ratio[1] / sum + 0.5);
    if (ntr > n) ntr = n;
    if (nva > n - ntr) nva = n - ntr;
    for (size_t i = 0; i < n; i++) g[i]->split = i < ntr ? SPLIT_TRAIN : i < ntr + nva ? SPLIT_VAL : SPLIT_TEST;
}

static int assign_splits(prep *p) {
    const prep_cfg *c = &p->cfg;
    int by_file = c->split == PREP_SPLIT_CAPTURE || c->unit == PREP_UNIT_CAPTURE;
    size_t cap = 64;
    while (cap < p->nseq * 2) cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot);   /* key -> group + 1 */
    group *g = malloc((p->nseq + 1) * sizeof *g);
    group **order = malloc((p->nseq + 1) * sizeof *order);
    if (!slot || !g || !order) { free(slot); free(g); free(order); return -1; }
    size_t ng = 0;
    for (size_t i = 0; i < p->nseq; i++) {
        pseq *q = &p->seqs[i];
        uint64_t key = by_file ? mix(0x66696c65ull + q->file) : q->key;
        size_t h = (size_t)mix(key) & (cap - 1);
        while (slot[h] && g[slot[h] - 1].key != key) h = (h + 1) & (cap - 1);
        if (!slot[h]) {
            int32_t lab = by_file ? p->files[q->file].label : q->label;
            g[ng] = (group){ key, lab, q->start_ns, (uint32_t)i, 0 };
            slot[h] = (uint32_t)++ng;
        }
        q->group = slot[h] - 1;
    }
    if (c->split == PREP_SPLIT_TIME && !by_file) {
        for (size_t i = 0; i < ng; i++) order[i] = &g[i];
        qsort(order, ng, sizeof *order, cmp_time);
        cut(order, ng, c->ratio);
    } else {
        /* stratified by label: each label's groups shuffled with the seed, then cut */
        for (int lab = -1; lab < p->labels.n; lab++) {
            size_t n = 0;
            for (size_t i = 0; i < ng; i++) if (g[i].label == lab) order[n++] = &g[i];
            uint64_t rs = mix(c->seed ^ mix((uint64_t)(lab + 2) * 0x5151ull));
            for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)(splitmix64(&rs) % i);
                group *t = order[i - 1]; order[i - 1] = order[j]; order[j] = t;
            }
            cut(order, n, c->ratio);
        }
    }
    for (size_t i = 0; i < p->nseq; i++) p->seqs[i].split = g[p->seqs[i].group].split;
    memset(p->split_groups, 0, sizeof p->split_groups);
    for (size_t i = 0; i < ng; i++) p->split_groups[g[i].split]++;
    free(slot); free(g); free(order);
    return 0;
}

/* Exact duplicates (same tokens after the label) across splits: the copy in the later
 * split (val after train, test after both) is removed. */
static int dedup(prep *p) {
    size_t cap = 64;
    while (cap < p->nseq * 2) cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot);
    uint64_t *hs = malloc((p->nseq + 1) * sizeof *hs);
    if (!slot || !hs) { free(slot); free(hs); return -1; }
    for (size_t i = 0; i < p->nseq; i++) {
        const pseq *q = &p->seqs[i];
        uint64_t h = 1469598103934665603ull;
        for (uint32_t k = 2; k < q->len; k++) h = (h ^ p->tok[q->off + k]) * 1099511628211ull;
        hs[i] = h;
    }
    for (int s = 0; s < NSPLIT; s++)
        for (size_t i = 0; i < p->nseq; i++) {
            pseq *q = &p->seqs[i];
            if (q->split != s) continue;
            size_t h = (size_t)mix(hs[i]) & (cap - 1);
            int found = 0;
            for (; slot[h]; h = (h + 1) & (cap - 1)) {
                const pseq *o = &p->seqs[slot[h] - 1];
                if (hs[slot[h] - 1] == hs[i] && o->len == q->len &&
                    !memcmp(p->tok + o->off + 2, p->tok + q->off + 2, (q->len - 2) * sizeof *p->tok)) { found = 1; break; }
            }
            if (!found) { slot[h] = (uint32_t)i + 1; continue; }
            if (p->seqs[slot[h] - 1].split != s) { q->dup = 1; p->dup_removed[s]++; }
            else p->dup_within++;
        }
    free(slot); free(hs);
    return 0;
}

/* ---------------------------------------------------------------------------- */
/* Output */

typedef struct { char *b; size_t n, cap; int oom; } sbuf;
static void sb_put(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sb_put(sbuf *s, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->b ? s->b + s->n : NULL, s->b ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { s->oom = 1; return; }
        if (s->b && s->n + (size_t)k < s->cap) { s->n += (size_t)k; return; }
        size_t nc = s->cap ? s->cap * 2 : 4096;
        while (nc < s->n + (size_t)k + 1) nc *= 2;
        char *q = realloc(s->b, nc);
        if (!q) { s->oom = 1; return; }
        s->b = q; s->cap = nc;
    }
}
/* str as a JSON string literal (util's escaping) */
static void sb_str(sbuf *s, const char *str) {
    char e[7];
    sb_put(s, "\"");
    for (; *str; str++) { json_escape_byte(e, (unsigned char)*str); sb_put(s, "%s", e); }
    sb_put(s, "\"");
}

static const char *split_name[NSPLIT] = { "train", "val", "test" };
static const char *unit_name[] = { "flow", "packet", "capture" };
static const char *splitby_name[] = { "flow", "capture", "time" };

/* The files of a corpus directory. prep_finish writes all of them into a new folder beside
 * it (CORPUS.new.PID), then swaps that folder with CORPUS in one rename: a crash or a kill at
 * any moment leaves either the old corpus or the new one, never train.tok of one run beside
 * vocab.json of another (six renames in a row would leave a mix when killed between two). */
enum { CF_TRAIN, CF_VAL, CF_TEST, CF_VOCAB, CF_LABELS, CF_MANIFEST, CF_NFILES };
static const char *file_name[CF_NFILES] = { "train.tok", "val.tok", "test.tok", "vocab.json", "labels.txt", "manifest.json" };
static void staged(char *buf, size_t n, const char *dir, int k) { snprintf(buf, n, "%s/%s", dir, file_name[k]); }
static int is_corpus_file(const char *name) {
    for (int k = 0; k < CF_NFILES; k++) if (!strcmp(name, file_name[k])) return 1;
    return 0;
}

static int write_vocab(const prep *p, const char *dir) {
    sbuf s = { 0 };
    const tok_format *tf = fmt_of(p);
    /* the byte format's file is unchanged (version 1); the others name their format */
    sb_put(&s, "{\n  \"format\": \"pktlm-tokens\",\n  \"version\": %d,\n", tf->id == TOKFMT_BYTES ? 1 : 2);
    if (tf->id != TOKFMT_BYTES) sb_put(&s, "  \"tokens\": \"%s\",\n", tf->name);
    sb_put(&s, "  \"vocab_size\": %d,\n", tokfmt_vocab(tf, p->labels.n));
    if (tf->id == TOKFMT_BYTES) {
        sb_put(&s, "  \"bytes\": [0, 255],\n  \"special\": {\"pad\": %d, \"bos\": %d, \"eos\": %d, \"pkt\": %d, \"dir_c2s\": %d, "
                   "\"dir_s2c\": %d, \"unlabelled\": %d},\n", TOK_PAD, TOK_BOS, TOK_EOS, TOK_PKT, TOK_DIR_CS, TOK_DIR_SC, TOK_UNLABELLED);
        sb_put(&s, "  \"time\": {\"first\": %d, \"count\": %d, \"per_decade\": 10, \"min_us\": 1, \"max_s\": 1000, \"rel_err\": %.4f},\n",
               TOK_TIME0, TOK_NTIME, TOK_TIME_REL_ERR);
    } else {
        /* fixed ids (docs/tokens.md), then the labels */
        sb_put(&s, "  \"special\": {\"pad\": %d, \"bos\": %d, \"eos\": %d, \"unlabelled\": %d},\n", tf->pad, tf->bos, tf->eos,
               tf->unlabelled);
        if (tf->id == TOKFMT_BPE) {
            const uint8_t *h = bpe_sha256(p->cfg.bpe);
            sb_put(&s, "  \"tokenizer\": ");
            sb_str(&s, p->cfg.tokenizer ? p->cfg.tokenizer : "");
            sb_put(&s, ",\n  \"tokenizer_sha256\": \"");
            for (int i = 0; i < 32; i++) sb_put(&s, "%02x", h[i]);
            sb_put(&s, "\",\n  \"tokenizer_ids\": %d,\n  \"pkt\": %d,\n  \"text\": \"NetGPT's hex words, each packet \\\\n + "
                       "b0b1 b1b2 ...\",\n", bpe_n_ids(p->cfg.bpe), tf->pkt);
        } else if (tf->id == TOKFMT_FIELDS)
            sb_put(&s, "  \"values\": [0, 65535],\n  \"seed_vocab\": %d,\n  \"time\": {\"first\": %d, \"count\": %d},\n  \"ip6\": %d,\n",
                   TCPF_SEED_VOCAB, TCPF_TIME0, TCPF_NTIME, TCPF_IP6);
        else
            sb_put(&s, "  \"words\": [%d, %d],\n  \"seed_vocab\": %d,\n  \"pkt\": %d,\n", BIG_W0, BIG_SEED_VOCAB - 1, BIG_SEED_VOCAB, BIG_PKT);
    }
    sb_put(&s, "  \"label_base\": %d,\n  \"labels\": [", tf->label_base);
    for (int i = 0; i < p->labels.n; i++) { if (i) sb_put(&s, ", "); sb_str(&s, p->labels.names[i]); }
    sb_put(&s, "]\n}\n");
    sbuf l = { 0 };
    /* labels.txt is for people: one line per label, escaped (a folder named "a<newline>b"); the
     * names are read back from vocab.json only (corpus/vocab.h) */
    for (int i = 0; i < p->labels.n; i++) {
        size_t n = 4 * strlen(p->labels.names[i]) + 8;   /* room for every byte escaped */
        char *e = malloc(n);
        if (!e) { l.oom = 1; break; }
        label_escape(e, n, p->labels.names[i]);
        sb_put(&l, "%s\n", e);
        free(e);
    }
    char path[4400];
    int rc = s.oom || l.oom;
    staged(path, sizeof path, dir, CF_VOCAB);
    if (!rc) rc = write_file_atomic(path, s.b, s.n);
    staged(path, sizeof path, dir, CF_LABELS);
    if (!rc) rc = write_file_atomic(path, l.b ? l.b : "", l.n);
    free(s.b); free(l.b);
    return rc;
}

static int write_manifest(const prep *p, const char *dir) {
    const prep_cfg *c = &p->cfg;
    int nl = p->labels.n;
    sbuf s = { 0 };
    sb_put(&s, "{\n  \"format\": \"pktlm-corpus\",\n  \"version\": 1,\n  \"command\": ");
    sb_str(&s, p->cmdline);
    sb_put(&s, ",\n  \"seed\": %llu,\n", (unsigned long long)c->seed);
    sb_put(&s, "  \"config\": {\"unit\": \"%s\", \"split\": \"%s\", \"ratio\": [%g, %g, %g], \"max_packets\": %d, "
               "\"min_flow_packets\": %d, \"max_flow_packets\": %d, \"payload_bytes\": %d, \"max_bytes\": %d, \"window\": %d, "
               "\"drop_dhcp\": %s, \"dedup\": %s, \"min_label_flows\": %d,\n",
           unit_name[c->unit], splitby_name[c->split], c->ratio[0], c->ratio[1], c->ratio[2], c->max_pkts, c->min_flow_pkts,
           c->max_flow_pkts, c->payload, c->max_bytes, c->window, c->drop_dhcp ? "true" : "false", c->dedup ? "true" : "false",
           c->min_label_flows);
    sb_put(&s, "    \"drop_ports\": [");
    for (int i = 0; i < c->ndrop_ports; i++) sb_put(&s, "%s%u", i ? ", " : "", c->drop_ports[i]);
    sb_put(&s, "], \"drop_protos\": [");
    for (int i = 0; i < c->ndrop_protos; i++) sb_put(&s, "%s%u", i ? ", " : "", c->drop_protos[i]);
    static const char *am[] = { "prefix", "random", "keep" };
    sb_put(&s, "],\n    \"anonymise\": %s, \"addresses\": \"%s\", \"ids\": %s, \"mask_ports\": %s, \"checksums\": \"%s\", \"secret\": %s,\n",
           c->anonymise ? "true" : "false", c->anonymise ? am[c->anon.addr] : "keep", c->anonymise && c->anon.ids ? "true" : "false",
           c->anonymise && c->anon.mask_ports ? "true" : "false", c->anon.csum == ANON_CSUM_ZERO ? "zero" : "update",
           c->secret && *c->secret ? "true" : "false");
    sb_put(&s, "    \"address_scope\": \"%s\",\n", c->anon.scope == ANON_SCOPE_CAPTURE ? "capture" : "flow");
    sb_put(&s, "    \"tcp_timeout\": %g, \"udp_timeout\": %g,\n", c->flows.tcp_timeout, c->flows.udp_timeout);
    sb_put(&s, "    \"tokens\": \"%s\", \"complete_only\": %s},\n", tokfmt_get(c->tokens)->name, c->complete_only ? "true" : "false");
    sb_put(&s, "  \"inputs\": [\n");
    for (int i = 0; i < p->nfiles; i++) {
        const pfile *f = &p->files[i];
        sb_put(&s, "    {\"path\": ");
        sb_str(&s, f->path);
        sb_put(&s, ", \"sha256\": \"%s\", \"bytes\": %llu, \"packets\": %llu, \"flows\": %llu, \"sequences\": %llu, \"label\": ",
               f->sha, (unsigned long long)f->bytes, (unsigned long long)f->packets, (unsigned long long)f->flows,
               (unsigned long long)f->seqs);
        if (f->label >= 0) sb_str(&s, p->labels.names[f->label]); else sb_put(&s, "null");
        sb_put(&s, ", \"status\": \"%s\"", f->ok == 1 ? "ok" : f->ok == 2 ? "partial" : "skipped");
        if (f->note[0]) { sb_put(&s, ", \"error\": "); sb_str(&s, f->note); }
        sb_put(&s, "}%s\n", i + 1 < p->nfiles ? "," : "");
    }
    uint64_t nseqs = 0, kept = 0;
    for (int k = 0; k < NSPLIT; k++) kept += p->split_seqs[k];
    nseqs = p->nseq;
    sb_put(&s, "  ],\n  \"counts\": {\"files\": %d, \"packets\": %llu, \"ip_packets\": %llu, \"not_ip\": %llu, \"unknown_link\": %llu, "
               "\"malformed\": %llu, \"orphan_fragments\": %llu, \"payload_addresses_rewritten\": %llu, \"payload_macs_zeroed\": %llu,\n"
               "    \"payload_text_addresses_rewritten\": %llu, \"payload_text_macs_zeroed\": %llu,\n",
           p->nfiles, (unsigned long long)p->packets, (unsigned long long)p->ip_packets, (unsigned long long)p->not_ip,
           (unsigned long long)p->unknown_link, (unsigned long long)p->malformed, (unsigned long long)p->orphans,
           (unsigned long long)p->scrubbed_ip, (unsigned long long)p->scrubbed_mac, (unsigned long long)p->scrubbed_text_ip,
           (unsigned long long)p->scrubbed_text_mac);
    sb_put(&s, "    \"flows\": %llu, \"flows_kept\": %llu, \"flows_unlabelled\": %llu, \"labels_pruned\": %d, \"flows_label_pruned\": %llu, \"flows_dropped\": {\"filter\": %llu, "
               "\"min_packets\": %llu, \"max_packets\": %llu, \"token_format\": %llu},\n",
           (unsigned long long)p->flows, (unsigned long long)p->flows_kept, (unsigned long long)p->unlabelled_flows,
           p->labels_pruned, (unsigned long long)p->flows_pruned, (unsigned long long)p->dropped[D_FILTER], (unsigned long long)p->dropped[D_MIN], (unsigned long long)p->dropped[D_MAX],
           (unsigned long long)p->dropped[D_FORMAT]);
    sb_put(&s, "    \"sequences\": %llu, \"sequences_kept\": %llu, \"duplicates_removed\": {\"train\": %llu, \"val\": %llu, "
               "\"test\": %llu}, \"duplicates_within_split\": %llu},\n",
           (unsigned long long)nseqs, (unsigned long long)kept, (unsigned long long)p->dup_removed[0],
           (unsigned long long)p->dup_removed[1], (unsigned long long)p->dup_removed[2], (unsigned long long)p->dup_within);
    sb_put(&s, "  \"splits\": {\n");
    for (int k = 0; k < NSPLIT; k++) {
        sb_put(&s, "    \"%s\": {\"file\": \"%s.tok\", \"sequences\": %llu, \"tokens\": %llu, \"groups\": %llu, \"labels\": {",
               split_name[k], split_name[k], (unsigned long long)p->split_seqs[k], (unsigned long long)p->split_toks[k],
               (unsigned long long)p->split_groups[k]);
        int first = 1;
        for (int l = 0; l <= nl; l++) {
            uint64_t v = p->by_label[(size_t)k * (nl + 1) + l];
            if (!v) continue;
            sb_put(&s, "%s", first ? "" : ", ");
            first = 0;
            sb_str(&s, l < nl ? p->labels.names[l] : "(unlabelled)");
            sb_put(&s, ": %llu", (unsigned long long)v);
        }
        sb_put(&s, "}}%s\n", k + 1 < NSPLIT ? "," : "");
    }
    sb_put(&s, "  }\n}\n");
    char path[4400];
    staged(path, sizeof path, dir, CF_MANIFEST);
    int rc = s.oom ? -1 : write_file_atomic(path, s.b, s.n);
    free(s.b);
    return rc;
}

/* Labels with fewer than min_label_flows flows become unlabelled (their sequences stay,
 * for pretraining); the remaining labels are renumbered in name order. */
static int prune_labels(prep *p) {
    int nl = p->labels.n, min = p->cfg.min_label_flows;
    if (min <= 0 || nl == 0) return 0;
    long *cnt = calloc((size_t)nl, sizeof *cnt);
    int *map = malloc((size_t)nl * sizeof *map);
    label_set ns = { 0 };
    if (!cnt || !map) { free(cnt); free(map); return -1; }
    for (size_t i = 0; i < p->nseq; i++) {   /* a flow's sequences are pushed together */
        const pseq *q = &p->seqs[i];
        if (q->label >= 0 && (i == 0 || p->seqs[i - 1].key != q->key)) cnt[q->label]++;
    }
    for (int l = 0; l < nl; l++) if (cnt[l] >= min) label_set_add(&ns, p->labels.names[l]);
    for (int l = 0; l < nl; l++) map[l] = cnt[l] >= min ? label_set_find(&ns, p->labels.names[l]) : -1;
    for (size_t i = 0; i < p->nseq; i++) {
        pseq *q = &p->seqs[i];
        if (q->label < 0) continue;
        int nlb = map[q->label];
        if (nlb < 0 && (i == 0 || p->seqs[i - 1].key != q->key)) p->flows_pruned++;
        q->label = nlb;
        p->tok[q->off + 1] = (tok_t)tokfmt_label(fmt_of(p), nlb);
    }
    for (int i = 0; i < p->nfiles; i++) if (p->files[i].label >= 0) p->files[i].label = map[p->files[i].label];
    p->labels_pruned = nl - ns.n;
    label_set_free(&p->labels);
    p->labels = ns;
    free(cnt); free(map);
    return 0;
}

/* Remove a folder holding no subfolders (a staged corpus, or the old one after the swap). */
static void remove_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4400];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) { snprintf(path, sizeof path, "%s/%s", dir, e->d_name); unlink(path); }
        closedir(d);
    }
    rmdir(dir);
}

/* The old corpus folder after the swap: its corpus files, and the user's files that are now
 * in the new folder too (same inode: carried over by a hard link). Anything else stays, and
 * with it the folder (CORPUS.new.XXXXXX): nothing of the user's is deleted. */
static void remove_old(const char *old, const char *now) {
    DIR *d = opendir(old);
    if (d) {
        struct dirent *e;
        char a[4608], b[4608];
        struct stat sa, sb;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(a, sizeof a, "%s/%s", old, e->d_name);
            snprintf(b, sizeof b, "%s/%s", now, e->d_name);
            if (is_corpus_file(e->d_name) ||
                (lstat(a, &sa) == 0 && lstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino))
                unlink(a);
        }
        closedir(d);
    }
    rmdir(old);
}

/* Names in dir that are not corpus files (a user's notes, exports, checkpoints): they move
 * into the new corpus folder. Files are hard-linked before the swap (present on both sides);
 * folders, and files that cannot be linked, are renamed across after it. NULL-terminated
 * list of the names to rename later in *later. */
static int carry_over(const char *dir, const char *stage, char ***later, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    *later = NULL;
    if (!d) { snprintf(err, errlen, "%s: %s", dir, strerror(errno)); return -1; }
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    char from[4608], to[4608];
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_corpus_file(e->d_name)) continue;
        snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
        snprintf(to, sizeof to, "%s/%s", stage, e->d_name);
        struct stat sb;
        if (lstat(from, &sb) == 0 && !S_ISDIR(sb.st_mode) && link(from, to) == 0) continue;
        char **l = realloc(*later, (n + 2) * sizeof *l);
        if (!l || !(l[n] = strdup(e->d_name))) { free(l ? l : *later); *later = NULL; snprintf(err, errlen, "out of memory"); rc = -1; break; }
        l[++n] = NULL;
        *later = l;
    }
    closedir(d);
    return rc;
}

int prep_finish(prep *p, const char *outdir_arg, char *err, size_t errlen) {
    if (p->oom) { snprintf(err, errlen, "out of memory while building the corpus"); return -1; }
    if (prune_labels(p)) { snprintf(err, errlen, "out of memory"); return -1; }
    /* CORPUS as given (trailing slashes dropped), or the folder a symbolic link names: the
     * swap replaces a folder, and must not replace the user's link with a folder */
    char outdir[4096], stage[4200], oldp[4200];
    snprintf(outdir, sizeof outdir, "%s", outdir_arg);
    for (size_t L = strlen(outdir); L > 1 && outdir[L - 1] == '/'; L--) outdir[L - 1] = 0;
    struct stat sb;
    int exists = lstat(outdir, &sb) == 0;
    if (exists) {   /* a link, ".", "..": the real folder */
        char *real = realpath(outdir, NULL), *cwd = getcwd(NULL, 0);
        if (!real) { free(cwd); snprintf(err, errlen, "%s: %s", outdir, strerror(errno)); return -1; }
        size_t L = strlen(real);
        /* the swap would leave the shell that ran us in a deleted folder */
        int holds_cwd = cwd && !strncmp(cwd, real, L) && (cwd[L] == 0 || cwd[L] == '/' || L == 1);
        if (!holds_cwd) snprintf(outdir, sizeof outdir, "%s", real);
        free(real); free(cwd);
        if (holds_cwd) { snprintf(err, errlen, "%s: is the current folder or holds it; the corpus folder is replaced as a whole: give another -o", outdir_arg); return -1; }
        exists = lstat(outdir, &sb) == 0;
    }
    if (exists && !S_ISDIR(sb.st_mode)) { snprintf(err, errlen, "%s: exists and is not a directory", outdir); return -1; }
    char path[4400];
    /* a corpus name taken by something that is not a file (a folder called val.tok): refuse
     * before anything is written */
    for (int k = 0; exists && k < CF_NFILES; k++) {
        snprintf(path, sizeof path, "%s/%s", outdir, file_name[k]);
        if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) { snprintf(err, errlen, "%s: exists and is not a regular file", path); return -1; }
    }
    snprintf(stage, sizeof stage, "%s.new.XXXXXX", outdir);
    if (!mkdtemp(stage)) { snprintf(err, errlen, "%s: cannot create: %s", outdir, strerror(errno)); return -1; }
    chmod(stage, 0755);   /* mkdtemp makes it 0700; a corpus folder is as mkdir would make it */
    if (assign_splits(p) || (p->cfg.dedup && dedup(p))) { snprintf(err, errlen, "out of memory while splitting"); remove_flat(stage); return -1; }
    int nl = p->labels.n;
    free(p->by_label);
    p->by_label = calloc((size_t)NSPLIT * (nl + 1), sizeof *p->by_label);
    if (!p->by_label) { snprintf(err, errlen, "out of memory"); remove_flat(stage); return -1; }
    for (int k = 0; k < NSPLIT; k++) {
        staged(path, sizeof path, stage, CF_TRAIN + k);
        shard_stream w;
        const tok_format *tf = fmt_of(p);
        if (shard_stream_open(&w, path, tokfmt_vocab(tf, nl), tf->pad, tf->bos, tf->eos, nl, tf->label_base, k)) {
            snprintf(err, errlen, "%s/%s: cannot write: %s", outdir, file_name[CF_TRAIN + k], strerror(errno));
            remove_flat(stage);
            return -1;
        }
        w.hdr.format = tf->id;
        if (tf->id == TOKFMT_BPE) { w.hdr.tok_hash = bpe_hash(p->cfg.bpe); w.hdr.pkt_id = tf->pkt; }
        p->split_seqs[k] = p->split_toks[k] = 0;
        int bad = 0;
        for (size_t i = 0; i < p->nseq && !bad; i++) {
            const pseq *q = &p->seqs[i];
            if (q->split != k || q->dup) continue;
            bad = shard_stream_add(&w, p->tok + q->off, q->len, q->label, q->file, q->flow, q->key) != 0;
            p->split_seqs[k]++;
            p->split_toks[k] += q->len;
            p->by_label[(size_t)k * (nl + 1) + (q->label >= 0 ? q->label : nl)]++;
        }
        if (bad) shard_stream_abort(&w);
        if (bad || shard_stream_close(&w)) {
            snprintf(err, errlen, "%s/%s: cannot write: %s", outdir, file_name[CF_TRAIN + k], strerror(errno));
            remove_flat(stage);
            return -1;
        }
    }
    if (write_vocab(p, stage) || write_manifest(p, stage)) {
        snprintf(err, errlen, "%s: cannot write vocab.json / manifest.json: %s", outdir, strerror(errno));
        remove_flat(stage);
        return -1;
    }
    char **later = NULL;
    if (exists && carry_over(outdir, stage, &later, err, errlen)) { remove_flat(stage); return -1; }
    /* commit: one rename that swaps the folders, with Ctrl-C / SIGTERM / SIGHUP held */
    sigset_t hold, old;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT); sigaddset(&hold, SIGTERM); sigaddset(&hold, SIGHUP);
    sigprocmask(SIG_BLOCK, &hold, &old);
    int rc = 0;
    const char *prev = NULL;   /* where the old corpus is after the commit */
    if (!exists) {
        if (rename(stage, outdir) != 0) rc = -1;
    } else if (renameat2(AT_FDCWD, stage, AT_FDCWD, outdir, RENAME_EXCHANGE) == 0) {
        prev = stage;
    } else if (errno == EINVAL || errno == ENOSYS) {
        /* a file system without the exchange: old aside, new in (a kill between the two
         * leaves no CORPUS, and the old one whole in CORPUS.old.PID, never a mix) */
        snprintf(oldp, sizeof oldp, "%s.old.%d", outdir, (int)getpid());
        if (rename(outdir, oldp) != 0) rc = -1;
        else if (rename(stage, outdir) != 0) { int e = errno; rename(oldp, outdir); errno = e; rc = -1; }
        else prev = oldp;
    } else rc = -1;
    if (rc) snprintf(err, errlen, "%s: cannot replace: %s", outdir, strerror(errno));
    for (size_t i = 0; prev && later && later[i]; i++) {   /* folders the user kept in CORPUS */
        char from[4608], to[4608];
        snprintf(from, sizeof from, "%s/%s", prev, later[i]);
        snprintf(to, sizeof to, "%s/%s", outdir, later[i]);
        rename(from, to);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; later && later[i]; i++) free(later[i]);
    free(later);
    if (rc) remove_flat(stage);
    else if (prev) remove_old(prev, outdir);
    return rc;
}

void prep_summary(const prep *p, FILE *f) {
    int skipped = 0;
    for (int i = 0; i < p->nfiles; i++) skipped += p->files[i].ok == 0;
    fprintf(f, "inputs      %d files (%d skipped), %llu packets, %.1f MB, %llu IP packets\n", p->nfiles, skipped,
            (unsigned long long)p->packets, (double)p->bytes / 1e6, (unsigned long long)p->ip_packets);
    fprintf(f, "flows       %llu, kept %llu (%llu unlabelled); dropped: %llu by filter, %llu too short, %llu too long\n",
            (unsigned long long)p->flows, (unsigned long long)p->flows_kept, (unsigned long long)p->unlabelled_flows,
            (unsigned long long)p->dropped[D_FILTER], (unsigned long long)p->dropped[D_MIN], (unsigned long long)p->dropped[D_MAX]);
    if (p->cfg.tokens == TOKFMT_FIELDS)
        fprintf(f, "tokens      fields: %llu flows without a sequence (not TCP%s)\n", (unsigned long long)p->dropped[D_FORMAT],
                p->cfg.complete_only ? ", or not complete" : "");
    if (p->labels_pruned)
        fprintf(f, "labels      %d with fewer than %d flows made unlabelled (%llu flows)\n", p->labels_pruned,
                p->cfg.min_label_flows, (unsigned long long)p->flows_pruned);
    fprintf(f, "sequences   %zu (%s unit), duplicates across splits removed: %llu, duplicates within a split: %llu\n", p->nseq,
            unit_name[p->cfg.unit], (unsigned long long)(p->dup_removed[0] + p->dup_removed[1] + p->dup_removed[2]),
            (unsigned long long)p->dup_within);
    for (int k = 0; k < NSPLIT; k++)
        fprintf(f, "%-11s %llu sequences, %llu tokens, %llu %s\n", split_name[k], (unsigned long long)p->split_seqs[k],
                (unsigned long long)p->split_toks[k], (unsigned long long)p->split_groups[k],
                p->cfg.split == PREP_SPLIT_CAPTURE || p->cfg.unit == PREP_UNIT_CAPTURE ? "captures" : "flows");
    fprintf(f, "vocabulary  %d tokens (format %s), %d labels\n", tokfmt_vocab(fmt_of(p), p->labels.n),
            tokfmt_get(p->cfg.tokens)->name, p->labels.n);
}
