/* NetGPT / ET-BERT (UER-py) files of a corpus split: see export.h and docs/interop.md.
 * What the seed's code reads, and so what is written here:
 *  - fine-tuning (UER finetune/run_classifier.py, NetGPT run_understanding.py): a header line
 *    with the columns "label" and "text_a", then rows; label is an int in [0, labels_num) where
 *    labels_num = the number of distinct labels of the training file (its output layer and its
 *    confusion matrix are that big), text_a is split on whitespace and looked up in the vocab.
 *  - pretraining (UER preprocess.py --corpus_path): text lines of the same words; NetGPT's
 *    pre-process/main.py writes each packet as its two halves on two lines and a blank line.
 *  - the words: byte i and i+1 of a packet as 4 hex digits, for every i, at most 256 a packet
 *    (NetGPT's bigram_generation), packets of a flow one after another. */
#include "corpus/export.h"
#include "corpus/tokens.h"
#include "corpus/bigrams.h"
#include <stdlib.h>
#include <string.h>

static const char hx[] = "0123456789abcdef";

/* Words of b[0..n): min(n-1, 256) of them, each followed by sep except the last (sep_last
 * after the last); returns the number written. */
static uint32_t put_words(FILE *f, const uint8_t *b, uint32_t n, int sep_last) {
    uint32_t w = n > 1 ? n - 1 : 0;
    if (w > NETGPT_MAX_WORDS) w = NETGPT_MAX_WORDS;
    for (uint32_t k = 0; k < w; k++) {
        char s[6] = { hx[b[k] >> 4], hx[b[k] & 15], hx[b[k + 1] >> 4], hx[b[k + 1] & 15], ' ', 0 };
        if (k + 1 == w && !sep_last) s[4] = 0;
        fputs(s, f);
    }
    return w;
}

/* Next packet of r into buf (after a synthetic Ethernet header with o->ether); its length. */
static int next_packet(tok_reader *r, const netgpt_opts *o, uint8_t *buf, uint32_t cap, uint32_t *n) {
    tok_packet p;
    uint32_t h = o->ether ? 14 : 0;
    if (tok_reader_next(r, &p, buf + h, cap - h) != 1) return 0;
    if (h) export_ether_header(buf, p.dir, p.n ? buf[h] : 0x40);
    *n = p.n + h;
    return 1;
}

int *netgpt_label_map(const shard *train, int n_labels, int *k) {
    int *m = calloc((size_t)n_labels + 1, sizeof *m);
    if (!m) return NULL;
    for (uint64_t i = 0; i < train->n_seqs; i++)
        if (train->seqs[i].label >= 0 && train->seqs[i].label < n_labels) m[train->seqs[i].label] = 1;
    *k = 0;
    for (int l = 0; l < n_labels; l++) m[l] = m[l] ? (*k)++ : -1;
    return m;
}

uint64_t netgpt_row_count(const shard *s, const int *label_map) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < s->n_seqs; i++)
        if (s->seqs[i].label >= 0 && label_map[s->seqs[i].label] >= 0) n++;
    return n;
}

int netgpt_write_rows(FILE *f, const shard *s, const netgpt_opts *o, netgpt_counts *c) {
    uint8_t *buf = malloc(65536 + 14);
    if (!buf) return -1;
    fputs("label\ttext_a\n", f);
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        const shard_seq *q = &s->seqs[i];
        if (q->label < 0) { c->unlabelled++; continue; }
        int lab = o->label_map[q->label];
        if (lab < 0) { c->unmapped++; continue; }
        tok_reader r;
        shard_reader_init(&r, s, q, 0);
        fprintf(f, "%d\t", lab);
        uint32_t n, words = 0;
        int np = 0;
        while ((o->max_packets <= 0 || np < o->max_packets) && next_packet(&r, o, buf, 65536 + 14, &n)) {
            if (n < 2) continue;                      /* no word in it */
            if (np) fputc(' ', f);
            words += put_words(f, buf, n, 0);
            np++;
            c->packets++;
        }
        fputc('\n', f);
        c->rows++;
        if (c->n_row_tokens == c->cap_row_tokens) {
            size_t nc = c->cap_row_tokens ? 2 * c->cap_row_tokens : 4096;
            uint32_t *v = realloc(c->row_tokens, nc * sizeof *v);
            if (!v) { free(buf); return -1; }
            c->row_tokens = v; c->cap_row_tokens = nc;
        }
        c->row_tokens[c->n_row_tokens++] = words + 1;   /* UER puts [CLS] in front */
    }
    free(buf);
    return ferror(f) ? -1 : 0;
}

int netgpt_write_traffic(FILE *f, const shard *s, const netgpt_opts *o, uint64_t *packets) {
    uint8_t *buf = malloc(65536 + 14);
    if (!buf) return -1;
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        const shard_seq *q = &s->seqs[i];
        tok_reader r;
        shard_reader_init(&r, s, q, 0);
        uint32_t n;
        int np = 0;
        while ((o->max_packets <= 0 || np < o->max_packets) && next_packet(&r, o, buf, 65536 + 14, &n)) {
            np++;
            if (n < 5) continue;                      /* NetGPT: fewer than 10 hex digits */
            /* NetGPT cuts the hex string in two at half its length, rounded so that the
             * first piece's length in hex digits is a multiple of 4 plus what was over */
            uint32_t half = n + n % 4;                /* hex digits of the first piece = n + (n mod 4) */
            uint32_t first = half / 2;                /* in bytes */
            put_words(f, buf, first, 1);
            fputc('\n', f);
            put_words(f, buf + first, n - first, 1);
            fputs("\n\n", f);
            (*packets)++;
        }
    }
    free(buf);
    return ferror(f) ? -1 : 0;
}

int netgpt_write_vocab(FILE *f) {
    for (int i = 0; i < BIG_W0; i++) fprintf(f, "%s\n", big_special[i]);   /* ids 0..4 of the bigrams format, NetGPT's order */
    for (int i = 0; i < 65536; i++) fprintf(f, "%04x\n", i);
    return ferror(f) ? -1 : 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void netgpt_length_stats(uint32_t *len, size_t n, uint32_t lim, uint64_t *over, uint32_t q[4]) {
    *over = 0;
    memset(q, 0, 4 * sizeof *q);
    if (!n) return;
    for (size_t i = 0; i < n; i++) *over += len[i] > lim;
    qsort(len, n, sizeof *len, cmp_u32);
    static const int pct[3] = { 50, 90, 99 };
    for (int k = 0; k < 3; k++) {
        size_t r = (size_t)((pct[k] * (double)n + 99) / 100);   /* nearest rank */
        q[k] = len[(r ? r : 1) - 1];
    }
    q[3] = len[n - 1];
}
