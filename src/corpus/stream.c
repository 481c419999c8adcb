/* Streaming flow tokens and decisions: see stream.h. The per-packet steps are prep's
 * (prep_flow_begin / prep_flow_packet, prep_flow_filtered, prep_seq_unwanted), so the tokens
 * cannot drift from what `pktlm prep` and `pktlm classify` build. */
#include "corpus/stream.h"
#include "corpus/bpe.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    prep_flow pf;
    int drop, decided;
} sflow;

struct stream {
    prep_cfg cfg;
    int K;
    stream_fn fn;
    stream_end_fn end_fn;
    void *ctx;
    flow_table *ft;
    anon_ctx *anon;          /* NULL: not anonymised */
    anon_dict dict;
    int use_dict;
    stream_counters c;
    tok_format tfb;          /* bpe: the ids of cfg.bpe's tokenizer */
};

/* Hand out a flow's tokens (ended here) and drop them: a decided flow keeps none. */
static void decide(stream *s, flow *f, sflow *x, int64_t ts, int reason) {
    tok_seq *q = &x->pf.seq;
    x->decided = 1;
    if (!q->oom) tok_seq_end(q);
    if (q->oom) s->c.oom++;
    else if (prep_seq_unwanted(&s->cfg, f, q)) s->c.filtered++;
    else {
        stream_decision d = { f, q->t, q->n, x->pf.npk, ts, reason };
        if (reason == STREAM_AT_K) s->c.decided_at_k++; else s->c.decided_at_end++;
        if (s->fn) s->fn(s->ctx, &d);
    }
    prep_flow_free(&x->pf);
}

static void on_end(void *ctx, flow *f) {
    stream *s = ctx;
    sflow *x = f->user;
    int decided = 0;
    if (x) {
        f->user = NULL;
        uint64_t total = f->pkts[0] + f->pkts[1];
        int over = s->cfg.max_flow_pkts > 0 && total > (uint64_t)s->cfg.max_flow_pkts;
        if (x->decided) s->c.decided_over_max += over;
        else if (x->drop || total < (uint64_t)s->cfg.min_flow_pkts || over) s->c.filtered++;
        else decide(s, f, x, f->last_ns, f->end_reason);
        decided = x->decided;
        prep_flow_free(&x->pf);
        free(x);
    }
    if (s->end_fn) s->end_fn(s->ctx, f, decided);
}

stream *stream_new(const prep_cfg *cfg, int after, stream_fn fn, stream_end_fn end_fn, void *ctx) {
    stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    s->cfg.unit = PREP_UNIT_FLOW;
    s->K = after > 0 ? after : 1;
    s->cfg.max_pkts = s->K;
    s->fn = fn; s->end_fn = end_fn; s->ctx = ctx;
    if (s->cfg.tokens == TOKFMT_BPE) {   /* as prep_new: the caller checked <|endoftext|> and "\n" */
        if (!s->cfg.bpe) { free(s); return NULL; }
        tokfmt_bpe(&s->tfb, bpe_n_ids(s->cfg.bpe), bpe_added_id(s->cfg.bpe, "<|endoftext|>"), bpe_text_id(s->cfg.bpe, "\n"));
    }
    s->ft = flow_table_new(&s->cfg.flows, on_end, s);
    if (!s->ft) { free(s); return NULL; }
    if (s->cfg.anonymise) {
        s->anon = calloc(1, sizeof *s->anon);
        if (!s->anon) { stream_free(s); return NULL; }
        /* the key of capture 0: what prep_each_flow uses for a single capture */
        anon_init(s->anon, &s->cfg.anon, anon_key(s->cfg.seed, s->cfg.secret, 0));
        s->use_dict = s->cfg.anon.addr != ANON_ADDR_KEEP;
        if (s->use_dict) s->anon->dict = &s->dict;
    }
    return s;
}

static int dict_room(stream *s, size_t need) {
    if (s->dict.n + need <= STREAM_DICT_MAX) return 1;
    s->c.dict_full++;
    return 0;
}

void stream_packet(stream *s, const cap_pkt *p) {
    s->c.packets++;
    s->c.bytes += p->len;
    pkt_info pi;
    int st = pkt_parse(p->linktype, p->data, p->caplen, p->len, &pi);
    if (s->use_dict) {
        /* what prep's first pass would have collected from this packet, before it is encoded */
        if (p->linktype == LT_ETHERNET && p->caplen >= 12 && dict_room(s, 4)) {
            anon_dict_add_mac(&s->dict, p->data);
            anon_dict_add_mac(&s->dict, p->data + 6);
        }
        if (st == PKT_IP && dict_room(s, 2)) {
            anon_dict_add_ip(&s->dict, pi.ipver, pi.src);
            anon_dict_add_ip(&s->dict, pi.ipver, pi.dst);
        }
    }
    if (st != PKT_IP) {
        if (st == PKT_NOT_IP) s->c.not_ip++; else if (st == PKT_UNKNOWN_LINK) s->c.unknown_link++; else s->c.malformed++;
        return;
    }
    if (pi.ipver == 4) s->c.ipv4++; else s->c.ipv6++;
    int dir;
    flow *f = flow_table_add(s->ft, &pi, p->ts_ns, p->len, &dir);
    if (!f) { s->c.orphans++; return; }
    sflow *x = f->user;
    if (!x) {
        if (f->pkts[0] + f->pkts[1] > 1) return;   /* its state could not be allocated at its first packet */
        x = calloc(1, sizeof *x);
        if (!x) { s->c.oom++; return; }
        f->user = x;
        s->c.flows++;
        x->drop = prep_flow_filtered(&s->cfg, f);
        if (s->cfg.tokens == TOKFMT_BPE) tok_seq_set_bpe(&x->pf.seq, s->cfg.bpe, &s->tfb);
        else tok_seq_set_format(&x->pf.seq, s->cfg.tokens);
        prep_flow_begin(&x->pf, s->anon, f->id, -1, f->first_ns);
    }
    if (x->drop || x->decided) return;
    if (x->pf.npk < (uint32_t)s->K) prep_flow_packet(&x->pf, &s->cfg, s->anon, p->data, &pi, p->ts_ns, dir);
    if (x->pf.npk >= (uint32_t)s->K && f->pkts[0] + f->pkts[1] >= (uint64_t)s->cfg.min_flow_pkts)
        decide(s, f, x, p->ts_ns, STREAM_AT_K);
}

void stream_advance(stream *s, int64_t now_ns) { flow_table_advance(s->ft, now_ns); }
void stream_finish(stream *s) { flow_table_flush(s->ft); }
const stream_counters *stream_get_counters(const stream *s) { return &s->c; }
const flow_counters *stream_flow_counters(const stream *s) { return flow_table_counters(s->ft); }
size_t stream_active(const stream *s) { return flow_table_active(s->ft); }

void stream_free(stream *s) {
    if (!s) return;
    s->fn = NULL; s->end_fn = NULL;   /* no decisions from here: the flush only frees what active flows hold */
    if (s->ft) { flow_table_flush(s->ft); flow_table_free(s->ft); }
    anon_dict_free(&s->dict);
    free(s->anon);
    free(s);
}
