#include "corpus/tokens.h"
#include "corpus/tcpfields.h"
#include "corpus/bigrams.h"
#include "corpus/bpe.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket edges: edge_ns[k] = 10^(k/10) us rounded to ns, ten buckets per decade from
 * 1 us to 1000 s; mid_ns[k] = 10^((k-0.5)/10) us, the value a bucket decodes to.
 * Written out (generated once with python) so that every machine quantises alike. */
static const int64_t edge_ns[91] = {
    1000LL, 1259LL, 1585LL, 1995LL, 2512LL, 3162LL,
    3981LL, 5012LL, 6310LL, 7943LL, 10000LL, 12589LL,
    15849LL, 19953LL, 25119LL, 31623LL, 39811LL, 50119LL,
    63096LL, 79433LL, 100000LL, 125893LL, 158489LL, 199526LL,
    251189LL, 316228LL, 398107LL, 501187LL, 630957LL, 794328LL,
    1000000LL, 1258925LL, 1584893LL, 1995262LL, 2511886LL, 3162278LL,
    3981072LL, 5011872LL, 6309573LL, 7943282LL, 10000000LL, 12589254LL,
    15848932LL, 19952623LL, 25118864LL, 31622777LL, 39810717LL, 50118723LL,
    63095734LL, 79432823LL, 100000000LL, 125892541LL, 158489319LL, 199526231LL,
    251188643LL, 316227766LL, 398107171LL, 501187234LL, 630957344LL, 794328235LL,
    1000000000LL, 1258925412LL, 1584893192LL, 1995262315LL, 2511886432LL, 3162277660LL,
    3981071706LL, 5011872336LL, 6309573445LL, 7943282347LL, 10000000000LL, 12589254118LL,
    15848931925LL, 19952623150LL, 25118864315LL, 31622776602LL, 39810717055LL, 50118723363LL,
    63095734448LL, 79432823472LL, 100000000000LL, 125892541179LL, 158489319246LL, 199526231497LL,
    251188643151LL, 316227766017LL, 398107170553LL, 501187233627LL, 630957344480LL, 794328234724LL,
    1000000000000LL,
};
static const int64_t mid_ns[92] = {
    0LL, 1122LL, 1413LL, 1778LL, 2239LL, 2818LL,
    3548LL, 4467LL, 5623LL, 7079LL, 8913LL, 11220LL,
    14125LL, 17783LL, 22387LL, 28184LL, 35481LL, 44668LL,
    56234LL, 70795LL, 89125LL, 112202LL, 141254LL, 177828LL,
    223872LL, 281838LL, 354813LL, 446684LL, 562341LL, 707946LL,
    891251LL, 1122018LL, 1412538LL, 1778279LL, 2238721LL, 2818383LL,
    3548134LL, 4466836LL, 5623413LL, 7079458LL, 8912509LL, 11220185LL,
    14125375LL, 17782794LL, 22387211LL, 28183829LL, 35481339LL, 44668359LL,
    56234133LL, 70794578LL, 89125094LL, 112201845LL, 141253754LL, 177827941LL,
    223872114LL, 281838293LL, 354813389LL, 446683592LL, 562341325LL, 707945784LL,
    891250938LL, 1122018454LL, 1412537545LL, 1778279410LL, 2238721139LL, 2818382931LL,
    3548133892LL, 4466835922LL, 5623413252LL, 7079457844LL, 8912509381LL, 11220184543LL,
    14125375446LL, 17782794100LL, 22387211386LL, 28183829313LL, 35481338923LL, 44668359215LL,
    56234132519LL, 70794578438LL, 89125093813LL, 112201845430LL, 141253754462LL, 177827941004LL,
    223872113857LL, 281838293126LL, 354813389234LL, 446683592151LL, 562341325190LL, 707945784384LL,
    891250938134LL, 1000000000000LL,
};

int tok_time_bucket(int64_t gap_ns) {
    if (gap_ns < edge_ns[0]) return 0;
    if (gap_ns >= edge_ns[90]) return TOK_NTIME - 1;
    int lo = 0, hi = 90;            /* edge_ns[lo] <= gap < edge_ns[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (gap_ns >= edge_ns[mid]) lo = mid; else hi = mid;
    }
    return hi;
}

int64_t tok_time_value(int bucket) {
    if (bucket < 0) bucket = 0;
    if (bucket >= TOK_NTIME) bucket = TOK_NTIME - 1;
    return mid_ns[bucket];
}

const char *tok_name(int t, char *buf) {
    static const char *sp[] = { "<pad>", "<bos>", "<eos>", "<pkt>", "<c2s>", "<s2c>", "<unlabelled>" };
    if (t >= 0 && t < 256) snprintf(buf, 32, "0x%02x", t);
    else if (t >= TOK_PAD && t <= TOK_UNLABELLED) snprintf(buf, 32, "%s", sp[t - TOK_PAD]);
    else if (tok_is_time(t)) {
        double us = (double)tok_time_value(t - TOK_TIME0) / 1e3;
        if (us < 1e3) snprintf(buf, 32, "<t:%.3gus>", us);
        else if (us < 1e6) snprintf(buf, 32, "<t:%.3gms>", us / 1e3);
        else snprintf(buf, 32, "<t:%.3gs>", us / 1e6);
    } else if (t >= TOK_LABEL0) snprintf(buf, 32, "<label:%d>", t - TOK_LABEL0);
    else snprintf(buf, 32, "<bad:%d>", t);
    return buf;
}

void tok_seq_init(tok_seq *s) { memset(s, 0, sizeof *s); }
void tok_seq_free(tok_seq *s) { free(s->t); memset(s, 0, sizeof *s); }
void tok_seq_reset(tok_seq *s) { s->n = 0; s->npkts = 0; s->skipped = 0; s->clock_ns = 0; s->oom = 0; }

static int reserve(tok_seq *s, size_t more) {
    if (s->n + more <= s->cap) return 0;
    size_t nc = s->cap ? s->cap : 256;
    while (nc < s->n + more) nc *= 2;
    tok_t *t = realloc(s->t, nc * sizeof *t);
    if (!t) { s->oom = 1; return -1; }
    s->t = t; s->cap = nc;
    return 0;
}

void tok_seq_begin(tok_seq *s, int label, int64_t t0_ns) {
    tok_seq_reset(s);
    if (reserve(s, 2)) return;
    const tok_format *f = s->tf ? s->tf : tokfmt_get(s->fmt);
    s->t[s->n++] = s->fmt == TOKFMT_FIELDS ? TCPF_FREE : (tok_t)f->bos;   /* fields: the type, known at the end */
    s->t[s->n++] = (tok_t)tokfmt_label(f, label);
    s->clock_ns = t0_ns;
}

size_t tok_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n, int64_t ts_ns, int dir, int64_t *clock_ns) {
    int b = tok_time_bucket(ts_ns - *clock_ns);
    /* Error feedback: the next gap is measured from where the decoder will be. When the
     * decoded clock ran ahead of the real time (gap < 0) bucket 0 keeps it still. */
    *clock_ns += tok_time_value(b);
    out[0] = TOK_PKT;
    out[1] = dir ? TOK_DIR_SC : TOK_DIR_CS;
    out[2] = (tok_t)(TOK_TIME0 + b);
    for (uint32_t i = 0; i < n; i++) out[3 + i] = ip[i];
    return (size_t)n + TOK_PKT_OVERHEAD;
}

void tok_seq_packet(tok_seq *s, const uint8_t *ip, uint32_t n, int64_t ts_ns, int dir) {
    if (s->fmt == TOKFMT_FIELDS) {
        if (reserve(s, TCPF_PKT_FIXED + 21)) return;
        if (s->npkts == 0 && tcpf_is_ip6(ip, n)) s->t[s->n++] = TCPF_IP6;
        size_t k = tcpf_encode_packet(s->t + s->n, ip, n, ts_ns, dir, &s->clock_ns);
        if (!k) { s->skipped++; if (s->npkts == 0 && tcpf_is_ip6(ip, n)) s->n--; return; }
        s->n += k;
    } else if (s->fmt == TOKFMT_BIGRAMS) {
        if (reserve(s, (size_t)n + 2)) return;
        s->n += big_encode_packet(s->t + s->n, ip, n);
    } else if (s->fmt == TOKFMT_BPE) {
        if (n < 2 || !s->bpe) { s->skipped++; return; }   /* NetGPT's words need two bytes */
        /* "\n" then the words b(i)b(i+1) joined by spaces: "\n4500 0000 003c ..." */
        static const char hx[] = "0123456789abcdef";
        char *txt = malloc((size_t)n * 5 + 1), err[160];
        if (!txt) { s->oom = 1; return; }
        size_t k = 0;
        txt[k++] = '\n';
        for (uint32_t i = 0; i + 1 < n; i++) {
            if (i) txt[k++] = ' ';
            txt[k++] = hx[ip[i] >> 4]; txt[k++] = hx[ip[i] & 15]; txt[k++] = hx[ip[i + 1] >> 4]; txt[k++] = hx[ip[i + 1] & 15];
        }
        size_t cap = s->cap;
        if (bpe_encode(s->bpe, txt, k, &s->t, &s->n, &cap, err, sizeof err)) s->oom = 1;
        s->cap = cap;
        free(txt);
    } else {
        if (reserve(s, (size_t)n + TOK_PKT_OVERHEAD)) return;
        s->n += tok_encode_packet(s->t + s->n, ip, n, ts_ns, dir, &s->clock_ns);
    }
    s->npkts++;
}

void tok_seq_end(tok_seq *s) {
    if (reserve(s, 1)) return;
    if (s->fmt == TOKFMT_FIELDS && s->n > 0) s->t[0] = (tok_t)tcpf_seq_type(s->t, s->n);
    s->t[s->n++] = (tok_t)(s->tf ? s->tf : tokfmt_get(s->fmt))->eos;
}

void tok_reader_init(tok_reader *r, const tok_t *t, size_t n, int64_t t0_ns) {
    memset(r, 0, sizeof *r);
    r->t = t; r->n = n; r->clock_ns = t0_ns; r->label = -2;
}

void tok_reader_init_fmt(tok_reader *r, int fmt, const tok_t *t, size_t n, int64_t t0_ns) {
    tok_reader_init(r, t, n, t0_ns);
    r->fmt = tokfmt_get(fmt) ? fmt : TOKFMT_BYTES;
}

/* A packet of a format without time or direction tokens (bigrams, bpe): BIG_GAP_NS after the
 * one before; the side whose source address is the first packet's is the client (dir 0). */
static void untimed_packet(tok_reader *r, tok_packet *p, const uint8_t *buf) {
    p->flags |= TOKP_NO_TIME;
    int v6 = p->n >= 40 && buf[0] >> 4 == 6, alen = v6 ? 16 : 4, aoff = v6 ? 8 : 12;
    if (p->n >= (uint32_t)(aoff + alen)) {
        if (!r->npk_seen) memcpy(r->src0, buf + aoff, (size_t)alen);
        p->dir = memcmp(r->src0, buf + aoff, (size_t)alen) != 0;
    } else p->flags |= TOKP_NO_DIR;
    if (r->npk_seen) r->clock_ns += BIG_GAP_NS;
}

/* fields and bigrams: the same walk with their own ids (tcpfields.h, bigrams.h) */
static int reader_next_other(tok_reader *r, tok_packet *p, uint8_t *buf, uint32_t cap) {
    const tok_format *f = tokfmt_get(r->fmt);
    int fields = r->fmt == TOKFMT_FIELDS;
    while (r->i < r->n && !r->ended) {
        int t = (int)r->t[r->i];
        if (fields ? t == TCPF_FORWARD || t == TCPF_REVERSE : t == BIG_PKT) break;
        r->i++;
        if (t == f->eos) { r->ended = 1; break; }
        if (r->i == 1 && (fields ? t >= TCPF_COMPLETE && t <= TCPF_FREE : t == BIG_CLS)) continue;
        if (tokfmt_is_label(f, t) && r->label == -2) { r->label = t == f->unlabelled ? -1 : t - f->label_base; continue; }
        if (fields && t == TCPF_IP6) { r->ip6 = 1; continue; }
        r->stray++;
    }
    if (r->ended || r->i >= r->n) return 0;
    memset(p, 0, sizeof *p);
    if (fields) {
        int64_t gap;
        int has_time;
        p->n = tcpf_decode_packet(r->t, r->n, &r->i, r->ip6, buf, cap, &p->dir, &gap, &has_time, &r->stray);
        if (!has_time) p->flags |= TOKP_NO_TIME;
        r->clock_ns += gap;
    } else {
        size_t a = ++r->i;
        while (r->i < r->n && r->t[r->i] != BIG_PKT && (int)r->t[r->i] != f->eos) r->i++;
        p->n = big_decode_words(r->t + a, r->i - a, buf, cap, &r->stray);
        untimed_packet(r, p, buf);
    }
    p->ts_ns = r->clock_ns;
    r->npk_seen++;
    return 1;
}

/* bpe: the text of the tokens up to the next packet's "\n" (or EOS), its hex words back to
 * bytes (the first byte of each word, then the last word's second); no time, and no direction
 * token: as for bigrams, a packet whose source address is not the first packet's is s->c */
static int reader_next_bpe(tok_reader *r, tok_packet *p, uint8_t *buf, uint32_t cap) {
    const tok_format *f = r->tf;
    if (!f || !r->bpe) return 0;
    while (r->i < r->n && !r->ended) {   /* to the first packet, taking the label */
        int t = (int)r->t[r->i];
        if (t == f->pkt) break;
        r->i++;
        if (t == f->eos && r->i > 1) { r->ended = 1; break; }
        if (r->i == 1 && t == f->bos) continue;
        if (tokfmt_is_label(f, t) && r->label == -2) { r->label = t == f->unlabelled ? -1 : t - f->label_base; continue; }
        r->stray++;
    }
    if (r->ended || r->i >= r->n) return 0;
    r->i++;
    memset(p, 0, sizeof *p);
    uint8_t tb[64];
    int nib = 0;   /* hex digits of the current word */
    unsigned word = 0;
    while (r->i < r->n) {
        int t = (int)r->t[r->i];
        if (t == f->pkt || t == f->eos) break;
        r->i++;
        int L = t < f->pad ? bpe_decode_id(r->bpe, t, tb, (int)sizeof tb) : -1;
        if (L < 0 || L > (int)sizeof tb) { r->stray++; continue; }
        for (int k = 0; k < L; k++) {
            int c = tb[k], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (v >= 0 && nib < 4) { word = word << 4 | (unsigned)v; nib++; continue; }
            if (c == ' ' && nib == 4) {   /* a word ends: its first byte (its second starts the next word) */
                if (p->n < cap) buf[p->n++] = (uint8_t)(word >> 8); else p->flags |= TOKP_CUT;
                nib = 0; word = 0;
                continue;
            }
            r->stray++;
        }
    }
    if (nib == 4) {
        for (int k = 0; k < 2; k++) {
            if (p->n < cap) buf[p->n++] = (uint8_t)(k ? word : word >> 8); else p->flags |= TOKP_CUT;
        }
    } else if (nib) r->stray++;
    untimed_packet(r, p, buf);
    p->ts_ns = r->clock_ns;
    r->npk_seen++;
    return 1;
}

int tok_reader_next(tok_reader *r, tok_packet *p, uint8_t *buf, uint32_t cap) {
    if (r->fmt == TOKFMT_BPE) return reader_next_bpe(r, p, buf, cap);
    if (r->fmt != TOKFMT_BYTES) return reader_next_other(r, p, buf, cap);
    /* Find the next PKT, taking the label on the way. */
    while (r->i < r->n && !r->ended) {
        int t = r->t[r->i];
        if (t == TOK_PKT) break;
        r->i++;
        if (t == TOK_EOS) { r->ended = 1; break; }
        if (t == TOK_BOS && r->label == -2) continue;
        if (tok_is_label(t) && r->label == -2) { r->label = t == TOK_UNLABELLED ? -1 : t - TOK_LABEL0; continue; }
        r->stray++;
    }
    if (r->ended || r->i >= r->n) return 0;
    r->i++;   /* PKT */
    memset(p, 0, sizeof *p);
    int have_dir = 0, have_time = 0;
    int64_t gap = 0;
    /* DIR and TIME, in either order (the encoder writes DIR first). */
    while (r->i < r->n) {
        int t = r->t[r->i];
        if (!have_dir && (t == TOK_DIR_CS || t == TOK_DIR_SC)) { p->dir = t == TOK_DIR_SC; have_dir = 1; r->i++; }
        else if (!have_time && tok_is_time(t)) { gap = tok_time_value(t - TOK_TIME0); have_time = 1; r->i++; }
        else break;
    }
    if (!have_dir) p->flags |= TOKP_NO_DIR;
    if (!have_time) p->flags |= TOKP_NO_TIME;
    r->clock_ns += gap;
    p->ts_ns = r->clock_ns;
    while (r->i < r->n) {
        int t = r->t[r->i];
        if (t == TOK_PKT || t == TOK_EOS) break;
        r->i++;
        if (t < 256) {
            if (p->n < cap) buf[p->n++] = (uint8_t)t;
            else p->flags |= TOKP_CUT;
        } else r->stray++;
    }
    return 1;
}
