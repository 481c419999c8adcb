/* Classification head forward, rows, prediction and the classifier file: see clshead.h. */
#include "models/clshead.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include "util/sha256.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static const char *const pool_names[3] = { "mean", "last", "first" };
const char *cls_pool_name(int p) { return p >= 0 && p < 3 ? pool_names[p] : "?"; }
int cls_pool_parse(const char *s) {
    for (int i = 0; i < 3; i++) if (s && !strcmp(s, pool_names[i])) return i;
    return -1;
}

int cls_head_init(cls_head *h, int C, int K, int pooling, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->C = C; h->K = K; h->pooling = pooling;
    h->nparams = (size_t)K * C + K;
    h->params = calloc(4 * h->nparams, sizeof(float));   /* params, grads, m, v */
    if (!h->params) return -1;
    h->grads = h->params + h->nparams;
    h->adam_m = h->grads + h->nparams;
    h->adam_v = h->adam_m + h->nparams;
    h->w = h->params; h->b = h->params + (size_t)K * C;
    h->gw = h->grads; h->gb = h->grads + (size_t)K * C;
    /* small uniform init, std 0.02 like the backbone's linear layers; bias 0 */
    uint64_t r = seed ? seed : 1;
    for (size_t i = 0; i < (size_t)K * C; i++) h->w[i] = (float)((rng_uniform(&r) * 2 - 1) * 0.0346);
    return 0;
}

int cls_head_alloc_batch(cls_head *h, int B) {
    if (B <= h->Bcap) return 0;
    free(h->pooled);
    h->pooled = malloc(((size_t)B * (2 * h->C + h->K)) * sizeof(float));
    if (!h->pooled) { h->Bcap = 0; return -1; }
    h->dpooled = h->pooled + (size_t)B * h->C;
    h->probs = h->dpooled + (size_t)B * h->C;
    h->Bcap = B;
    return 0;
}

void cls_head_free(cls_head *h) {
    free(h->params);
    free(h->pooled);
    memset(h, 0, sizeof *h);
}

int cls_pool_pos(int len, int pooling) { return pooling == POOL_FIRST ? 0 : (len > 0 ? len - 1 : 0); }

void cls_pool_forward(float *pooled, const float *hidden, const int *len, int B, int T, int C, int pooling) {
    for (int b = 0; b < B; b++) {
        float *o = pooled + (size_t)b * C;
        const float *hb = hidden + (size_t)b * T * C;
        int L = len[b] < 1 ? 1 : (len[b] > T ? T : len[b]);
        if (pooling == POOL_MEAN) {
            for (int c = 0; c < C; c++) o[c] = 0;
            for (int t = 0; t < L; t++) for (int c = 0; c < C; c++) o[c] += hb[(size_t)t * C + c];
            for (int c = 0; c < C; c++) o[c] /= (float)L;
        } else {
            memcpy(o, hb + (size_t)cls_pool_pos(L, pooling) * C, (size_t)C * sizeof(float));
        }
    }
}

float cls_head_forward(cls_head *h, const float *pooled, const int *y, const float *cw, int B) {
    const int C = h->C, K = h->K;
    double loss = 0, wsum = 0;
    for (int b = 0; b < B; b++) {
        const float *x = pooled + (size_t)b * C;
        float *p = h->probs + (size_t)b * K;
        float mx = -INFINITY;
        for (int k = 0; k < K; k++) {
            const float *wk = h->w + (size_t)k * C;
            float s = h->b[k];
            for (int c = 0; c < C; c++) s += wk[c] * x[c];
            p[k] = s;
            if (s > mx) mx = s;
        }
        double z = 0;
        for (int k = 0; k < K; k++) { p[k] = expf(p[k] - mx); z += p[k]; }
        for (int k = 0; k < K; k++) p[k] = (float)(p[k] / z);
        if (y && y[b] >= 0 && y[b] < K) {
            double w = cw ? cw[y[b]] : 1.0;
            loss += w * -log(fmax(p[y[b]], 1e-30));
            wsum += w;
        }
    }
    return wsum > 0 ? (float)(loss / wsum) : 0.0f;
}

int cls_make_row(int *row, const tok_t *tok, size_t n, int T, int max_pkts, const tok_format *f) {
    int L = 0, pk = 0;
    for (size_t i = 0; i < n && L < T; i++) {
        int t = tok[i];
        if ((t == f->eos && i > 0) || t == f->pad) break;   /* bpe: bos is eos (<|endoftext|>) */
        if (tokfmt_is_pkt(f, t) && max_pkts > 0 && ++pk > max_pkts) break;
        if (i == 1 && tokfmt_is_label(f, t)) t = f->unlabelled;   /* never show the answer */
        row[L++] = t;
    }
    if (L == 0) row[L++] = f->bos;
    for (int i = L; i < T; i++) row[i] = f->pad;
    return L;
}

int cls_trim_rows(int *rows, const int *len, int B, int T) {
    int Tb = 1;
    for (int b = 0; b < B; b++) if (len[b] > Tb) Tb = len[b];
    if (Tb >= T) return T;
    /* row b moves from b*T to b*Tb <= b*T: in increasing b nothing is overwritten before it is read */
    for (int b = 1; b < B; b++) memmove(rows + (size_t)b * Tb, rows + (size_t)b * T, (size_t)Tb * sizeof *rows);
    return Tb;
}

void cls_predict_batch(model *m, cls_head *h, int *rows, const int *len, int B, int T) {
    m->training = 0;
    T = cls_trim_rows(rows, len, B, T);
    m->ops->forward(m, rows, B, T);
    cls_pool_forward(h->pooled, m->hidden, len, B, T, m->cfg.d_model, h->pooling);
    cls_head_forward(h, h->pooled, NULL, NULL, B);
}

void cls_top(const float *p, int K, int *top, int n) {
    for (int r = 0; r < n; r++) {
        int best = -1;
        for (int k = 0; k < K; k++) {
            int taken = 0;
            for (int j = 0; j < r; j++) taken |= top[j] == k;
            if (!taken && (best < 0 || p[k] > p[best])) best = k;
        }
        top[r] = best;
    }
}

int cls_predict_shard(model *m, cls_head *h, const shard *s, int T, int max_pkts, int B, int part, int nparts, int *pred,
                      float *prob) {
    int *rows = malloc((size_t)B * T * sizeof(int)), *len = malloc((size_t)B * sizeof(int));
    if (!rows || !len) { free(rows); free(len); return -1; }
    for (uint64_t i0 = (uint64_t)part * B; i0 < s->n_seqs; i0 += (uint64_t)B * nparts) {
        int nb = (int)(s->n_seqs - i0 < (uint64_t)B ? s->n_seqs - i0 : (uint64_t)B);
        for (int b = 0; b < B; b++) {
            const shard_seq *q = &s->seqs[i0 + (uint64_t)(b < nb ? b : 0)];
            tok_format tfb;   /* bpe: the ids of the corpus's tokenizer */
            len[b] = cls_make_row(rows + (size_t)b * T, s->tokens + q->off, q->len, T, max_pkts, shard_format(s, &tfb));
        }
        cls_predict_batch(m, h, rows, len, B, T);
        for (int b = 0; b < nb; b++) {
            const float *p = h->probs + (size_t)b * h->K;
            int best;
            cls_top(p, h->K, &best, 1);
            pred[i0 + (uint64_t)b] = best;
            if (prob) prob[i0 + (uint64_t)b] = p[best];
        }
    }
    free(rows); free(len);
    return 0;
}

/* ---- classifier file ---- */
#define CLS_HDR 1024
enum { C_MAGIC = 0, C_VERSION, C_K, C_C, C_POOL, C_MAXPKTS, C_SEQLEN, C_FROZEN, C_PRETRAINED, C_BESTEPOCH,
       C_BESTF1, C_NAMES = 11, C_BACKBONE = 13, C_CHECKSUM = 15,
       /* the corpus's prep options (docs/classify.md); 0 in files written before them */
       C_PREP = 17, C_UNIT, C_PMAXPKTS, C_PAYLOAD, C_MAXBYTES, C_MINFLOW, C_MAXFLOW, C_DROPDHCP, C_ANON, C_ADDR, C_IDS,
       C_MASKPORTS, C_CSUM, C_SCOPE, C_SECRET, C_TCPTO = 32, C_UDPTO = 34, C_SEED = 36, C_NPORTS = 38, C_NPROTOS,
       C_PORTS = 40, C_PROTOS = 56, C_HDRSUM = 64, C_TOKBYTES = 66, C_INIT = 128 };

static void put64(uint8_t *hd, int slot, uint64_t v) { wr32le(hd + 4 * slot, (uint32_t)v); wr32le(hd + 4 * slot + 4, (uint32_t)(v >> 32)); }
static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

static void prep_put(uint8_t *hd, const cls_info *info) {
    if (!info->prep_known) return;
    const prep_cfg *c = &info->prep;
    const int v[] = { 1, c->unit, c->max_pkts, c->payload, c->max_bytes, c->min_flow_pkts, c->max_flow_pkts, c->drop_dhcp,
                      c->anonymise, c->anon.addr, c->anon.ids, c->anon.mask_ports, c->anon.csum, c->anon.scope, info->prep_secret };
    for (int i = 0; i < (int)(sizeof v / sizeof v[0]); i++) wr32le(hd + 4 * (C_PREP + i), (uint32_t)v[i]);
    put64(hd, C_TCPTO, dbits(c->flows.tcp_timeout));
    put64(hd, C_UDPTO, dbits(c->flows.udp_timeout));
    put64(hd, C_SEED, c->seed);
    wr32le(hd + 4 * C_NPORTS, (uint32_t)c->ndrop_ports);
    wr32le(hd + 4 * C_NPROTOS, (uint32_t)c->ndrop_protos);
    for (int i = 0; i < c->ndrop_ports && i < 32; i++) { hd[4 * C_PORTS + 2 * i] = (uint8_t)c->drop_ports[i]; hd[4 * C_PORTS + 2 * i + 1] = (uint8_t)(c->drop_ports[i] >> 8); }
    for (int i = 0; i < c->ndrop_protos && i < 32; i++) hd[4 * C_PROTOS + i] = c->drop_protos[i];
}

/* 0 ok (defaults when the slots are empty), -1 when a recorded value is out of range */
static int prep_get(const uint8_t *hd, cls_info *info) {
    prep_cfg *c = &info->prep;
    prep_cfg_default(c);
    c->hash_inputs = 0;
    info->prep_known = (int)rd32le(hd + 4 * C_PREP) == 1;
    if (!info->prep_known) return 0;
#define G(i) (int)rd32le(hd + 4 * (i))
    c->unit = G(C_UNIT); c->max_pkts = G(C_PMAXPKTS); c->payload = G(C_PAYLOAD); c->max_bytes = G(C_MAXBYTES);
    c->min_flow_pkts = G(C_MINFLOW); c->max_flow_pkts = G(C_MAXFLOW); c->drop_dhcp = G(C_DROPDHCP); c->anonymise = G(C_ANON);
    c->anon.addr = G(C_ADDR); c->anon.ids = G(C_IDS); c->anon.mask_ports = G(C_MASKPORTS); c->anon.csum = G(C_CSUM);
    c->anon.scope = G(C_SCOPE); info->prep_secret = G(C_SECRET);
    c->flows.tcp_timeout = bitsd(rd64le(hd + 4 * C_TCPTO));
    c->flows.udp_timeout = bitsd(rd64le(hd + 4 * C_UDPTO));
    c->seed = rd64le(hd + 4 * C_SEED);
    c->ndrop_ports = G(C_NPORTS); c->ndrop_protos = G(C_NPROTOS);
#undef G
    /* the ranges of prep's options (--packets 1..1000000, --payload 0..65535, --max-bytes 20..65535) */
    if (c->unit < 0 || c->unit > PREP_UNIT_CAPTURE || c->max_pkts < 1 || c->max_pkts > 1000000 || c->payload < 0 ||
        c->payload > 65535 || c->max_bytes < 20 || c->max_bytes > 65535 ||
        c->min_flow_pkts < 0 || c->max_flow_pkts < 0 || (unsigned)c->drop_dhcp > 1 || (unsigned)c->anonymise > 1 ||
        c->anon.addr < 0 || c->anon.addr > ANON_ADDR_KEEP || (unsigned)c->anon.ids > 1 || (unsigned)c->anon.mask_ports > 1 ||
        (unsigned)c->anon.csum > 1 || (unsigned)c->anon.scope > 1 || !(c->flows.tcp_timeout > 0) || !(c->flows.udp_timeout > 0) ||
        c->ndrop_ports < 0 || c->ndrop_ports > 32 || c->ndrop_protos < 0 || c->ndrop_protos > 32)
        return -1;
    for (int i = 0; i < c->ndrop_ports; i++) c->drop_ports[i] = (uint16_t)(hd[4 * C_PORTS + 2 * i] | hd[4 * C_PORTS + 2 * i + 1] << 8);
    for (int i = 0; i < c->ndrop_protos; i++) c->drop_protos[i] = hd[4 * C_PROTOS + i];
    return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* FNV-1a over the 1024 header bytes with its own slots (64..65) taken as zero, as the LM
 * checkpoint's header_checksum: the payload checksum covers names and head, not the header,
 * where a flipped --packets or seq_len would change every decision silently. Never 0 (0 in
 * the slot: a file written before it existed, read without this check). */
static uint64_t cls_header_sum(const uint8_t *hd) {
    uint64_t x = 0xcbf29ce484222325ull;
    for (int i = 0; i < CLS_HDR; i++) x = (x ^ (i / 4 == C_HDRSUM || i / 4 == C_HDRSUM + 1 ? 0 : hd[i])) * 0x100000001b3ull;
    return x ? x : 1;
}

int cls_write(const char *path, const model *m, const model_vocab *mv, const ckpt_header *train_slots, const cls_head *h,
              const cls_info *info, char *err, size_t errlen) {
    size_t nb = 0;
    for (int k = 0; k < info->K; k++) nb += strlen(info->names[k]) + 1;
    char *names = malloc(nb + 1), *q = names;
    if (!names) { snprintf(err, errlen, "out of memory"); return -1; }
    for (int k = 0; k < info->K; k++) { size_t l = strlen(info->names[k]) + 1; memcpy(q, info->names[k], l); q += l; }
    uint8_t hd[CLS_HDR];
    memset(hd, 0, sizeof hd);
    uint32_t v[16] = { CLS_MAGIC, CLS_VERSION, (uint32_t)h->K, (uint32_t)h->C, (uint32_t)h->pooling,
                       (uint32_t)info->max_pkts, (uint32_t)info->seq_len, (uint32_t)info->frozen,
                       (uint32_t)info->pretrained, (uint32_t)info->best_epoch, 0, (uint32_t)nb, 0, 0, 0, 0 };
    memcpy(&v[C_BESTF1], &info->best_val_f1, 4);
    uint64_t bb = ckpt_bytes(m, 0);
    v[C_BACKBONE] = (uint32_t)bb; v[C_BACKBONE + 1] = (uint32_t)(bb >> 32);
    uint64_t sum = fnv(fnv(0xcbf29ce484222325ull, names, nb), h->params, (size_t)h->nparams * 4);
    v[C_CHECKSUM] = (uint32_t)sum;
    for (int i = 0; i < 16; i++) wr32le(hd + 4 * i, v[i]);
    wr32le(hd + 4 * (C_CHECKSUM + 1), (uint32_t)(sum >> 32));
    prep_put(hd, info);
    uint64_t tb = info->tokenizer ? info->tokenizer_len : 0;
    put64(hd, C_TOKBYTES, tb);
    memcpy(hd + 4 * C_INIT, info->init_path, strnlen(info->init_path, sizeof info->init_path - 1));
    put64(hd, C_HDRSUM, cls_header_sum(hd));
    atomic_file a;
    FILE *f = atomic_open(&a, path, err, errlen);
    if (!f) { free(names); return -1; }
    int ok = fwrite(hd, 1, CLS_HDR, f) == CLS_HDR && fwrite(names, 1, nb, f) == nb &&
             fwrite(h->params, 4, h->nparams, f) == h->nparams && (!tb || fwrite(info->tokenizer, 1, tb, f) == tb) &&
             ckpt_write_model(f, m, mv, train_slots, 0) == 0;
    free(names);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write classifier: %s", path, strerror(errno));
        atomic_abort(&a);
        return -1;
    }
    return atomic_commit(&a, err, errlen);
}

void cls_info_free(cls_info *info) {
    if (info->names) for (int k = 0; k < info->K; k++) free(info->names[k]);
    free(info->names);
    info->names = NULL;
    free(info->tokenizer);
    info->tokenizer = NULL;
}

int cls_load(const char *path, model *m, model_vocab *mv, cls_head *h, cls_info *info, char *err, size_t errlen) {
    model_vocab v0;
    if (!mv) mv = &v0;
    memset(info, 0, sizeof *info);
    memset(h, 0, sizeof *h);
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    uint8_t hd[CLS_HDR];
    struct stat sb;
    if (fread(hd, 1, CLS_HDR, f) != CLS_HDR || rd32le(hd) != CLS_MAGIC) {
        int lm = rd32le(hd) == CKPT_MAGIC;
        snprintf(err, errlen, "%s: not a pktlm classifier%s", path,
                 lm ? " (it is a pretrained model checkpoint: make a classifier with `pktlm finetune --task classify`)" : "");
        fclose(f); return -1;
    }
    if (rd32le(hd + 4) != CLS_VERSION) { snprintf(err, errlen, "%s: classifier version %u, this pktlm reads %d", path, rd32le(hd + 4), CLS_VERSION); fclose(f); return -1; }
    uint64_t hsum = rd64le(hd + 4 * C_HDRSUM);
    if (hsum != 0 && hsum != cls_header_sum(hd)) {
        snprintf(err, errlen, "%s: corrupt classifier header (header checksum mismatch in bytes 0..%d)", path, CLS_HDR - 1);
        fclose(f); return -1;
    }
#define G(i) rd32le(hd + 4 * (i))
    int K = (int)G(C_K), C = (int)G(C_C);
    uint32_t nb = G(C_NAMES);
    uint64_t bb = rd64le(hd + 4 * C_BACKBONE), sum = rd64le(hd + 4 * C_CHECKSUM), tb = rd64le(hd + 4 * C_TOKBYTES);
    fstat(fileno(f), &sb);
    if (K < 1 || K > 65536 || C < 1 || C > 1 << 16 || nb > (1u << 24) || tb > CLS_MAX_TOKENIZER ||
        (uint64_t)sb.st_size != CLS_HDR + nb + ((uint64_t)K * C + K) * 4 + tb + bb) {
        snprintf(err, errlen, "%s: corrupt or truncated classifier", path); fclose(f); return -1;
    }
    info->K = K; info->pooling = (int)G(C_POOL); info->max_pkts = (int)G(C_MAXPKTS); info->seq_len = (int)G(C_SEQLEN);
    info->frozen = (int)G(C_FROZEN); info->pretrained = (int)G(C_PRETRAINED); info->best_epoch = (int)G(C_BESTEPOCH);
    uint32_t u = G(C_BESTF1); memcpy(&info->best_val_f1, &u, 4);
#undef G
    /* fields checked whatever the header checksum says (a file may predate it); seq_len
     * against the backbone's context once that is read */
    const char *badf = NULL;
    int slot = 0;
    if ((unsigned)info->pooling > POOL_FIRST) badf = "pooling", slot = C_POOL;
    else if (info->max_pkts < 0 || info->max_pkts > 1000000) badf = "max_packets", slot = C_MAXPKTS;
    else if (info->seq_len < 1) badf = "seq_len", slot = C_SEQLEN;
    else if ((unsigned)info->frozen > 1) badf = "frozen", slot = C_FROZEN;
    else if ((unsigned)info->pretrained > 1) badf = "pretrained", slot = C_PRETRAINED;
    else if (info->best_epoch < 0) badf = "best_epoch", slot = C_BESTEPOCH;
    if (badf) {
        snprintf(err, errlen, "%s: corrupt classifier header: %s %d out of range at byte offset %d", path, badf,
                 (int)rd32le(hd + 4 * slot), 4 * slot);
        fclose(f); return -1;
    }
    memcpy(info->init_path, hd + 4 * C_INIT, sizeof info->init_path - 1);
    if (prep_get(hd, info) != 0) { snprintf(err, errlen, "%s: corrupt classifier (prep options at bytes %d..%d out of range)", path, 4 * C_PREP, 4 * C_INIT - 1); fclose(f); return -1; }
    char *names = malloc(nb + 1);
    if (!names || cls_head_init(h, C, K, info->pooling, 1) != 0) { free(names); fclose(f); snprintf(err, errlen, "out of memory"); return -1; }
    int ok = fread(names, 1, nb, f) == nb && fread(h->params, 4, h->nparams, f) == h->nparams;
    if (!ok || fnv(fnv(0xcbf29ce484222325ull, names, nb), h->params, h->nparams * 4) != sum) {
        snprintf(err, errlen, "%s: corrupt classifier (checksum mismatch)", path);
        free(names); cls_head_free(h); fclose(f); return -1;
    }
    names[nb] = 0;
    /* exactly K names, each ended by its NUL (a checksum of 0 from an old file proves nothing) */
    int nz = 0;
    for (uint32_t i = 0; i < nb; i++) nz += names[i] == 0;
    if (nz != K || nb == 0 || names[nb - 1] != 0) {
        snprintf(err, errlen, "%s: corrupt classifier: %d label names for %d classes", path, nz, K);
        free(names); cls_head_free(h); fclose(f); return -1;
    }
    info->names = calloc((size_t)K, sizeof(char *));
    size_t o = 0;
    for (int k = 0; k < K; k++) {
        info->names[k] = strdup(o < nb ? names + o : "?");
        o += strlen(info->names[k]) + 1;
    }
    free(names);
    if (tb) {   /* the tokenizer.json of a bpe backbone (checked against the backbone's hash below) */
        info->tokenizer = malloc((size_t)tb + 1);
        if (!info->tokenizer) { snprintf(err, errlen, "out of memory"); cls_head_free(h); cls_info_free(info); fclose(f); return -1; }
        if (fread(info->tokenizer, 1, (size_t)tb, f) != tb) {
            snprintf(err, errlen, "%s: corrupt or truncated classifier (its tokenizer.json)", path);
            cls_head_free(h); cls_info_free(info); fclose(f); return -1;
        }
        info->tokenizer[tb] = 0;
        info->tokenizer_len = (size_t)tb;
    }
    if (ckpt_read_model_fp(f, path, bb, m, mv, NULL, 0, err, errlen) != 0) { cls_head_free(h); cls_info_free(info); return -1; }
    if (tb) {   /* its sha256's first 8 bytes, as bpe_hash: the backbone records them (slots 100..101) */
        uint8_t d[32];
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, info->tokenizer, (size_t)tb);
        sha256_final(&c, d);
        uint64_t th = 0;
        for (int i = 7; i >= 0; i--) th = th << 8 | d[i];
        if (mv->tok_format != TOKFMT_BPE || th != mv->tok_hash) {
            snprintf(err, errlen, "%s: corrupt classifier: its embedded tokenizer.json (hash %016llx) is not the one its backbone "
                     "was trained with (%016llx)", path, (unsigned long long)th, (unsigned long long)mv->tok_hash);
            model_free(m); cls_head_free(h); cls_info_free(info); return -1;
        }
    }
    if (m->cfg.d_model != C) {
        snprintf(err, errlen, "%s: head width %d does not match the backbone's %d", path, C, m->cfg.d_model);
        model_free(m); cls_head_free(h); cls_info_free(info); return -1;
    }
    if (info->seq_len > m->cfg.ctx) {
        snprintf(err, errlen, "%s: corrupt classifier header: seq_len %d exceeds the backbone's context %d (byte offset %d)", path,
                 info->seq_len, m->cfg.ctx, 4 * C_SEQLEN);
        model_free(m); cls_head_free(h); cls_info_free(info); return -1;
    }
    for (size_t i = 0; i < h->nparams; i++)
        if (!isfinite(h->params[i])) {
            snprintf(err, errlen, "%s: corrupt classifier: head parameter %zu is %g (not finite)", path, i, (double)h->params[i]);
            model_free(m); cls_head_free(h); cls_info_free(info); return -1;
        }
    info->prep.tokens = mv->tok_format;   /* the token format is the backbone's (its checkpoint header) */
    return 0;
}
