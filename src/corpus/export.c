#include "corpus/export.h"
#include "corpus/tokens.h"
#include "capture/capture.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

int export_netgpt_vocab(FILE *f) {
    fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", f);
    for (int i = 0; i < 65536; i++) fprintf(f, "%04x\n", i);
    return ferror(f) ? -1 : 0;
}

int export_text(FILE *f, int fmt, const shard *s, char **labels, int max_packets, export_counts *c) {
    static const char hx[] = "0123456789abcdef";
    uint8_t *buf = malloc(65536);
    if (!buf) return -1;
    if (fmt == EXPORT_NETGPT) fputs("label\ttext_a\n", f);
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        const shard_seq *q = &s->seqs[i];
        if (fmt == EXPORT_NETGPT && q->label < 0) { c->skipped_unlabelled++; continue; }
        tok_reader r;
        tok_packet p;
        tok_reader_init_fmt(&r, s->format, s->tokens + q->off, q->len, 0);
        if (fmt == EXPORT_NETGPT) fprintf(f, "%d\t", q->label);
        else {
            fputs("{\"text\": \"<|", f);
            json_escape(f, q->label >= 0 ? labels[q->label] : "unlabelled");
            fputs("|>", f);
        }
        int np = 0;
        while ((max_packets <= 0 || np < max_packets) && tok_reader_next(&r, &p, buf, 65536) == 1) {
            if (fmt == EXPORT_NETGPT) {
                if (np) fputc(' ', f);
                for (uint32_t k = 0; k + 1 < p.n; k++) {
                    char w[6] = { hx[buf[k] >> 4], hx[buf[k] & 15], hx[buf[k + 1] >> 4], hx[buf[k + 1] & 15], ' ', 0 };
                    if (k + 2 == p.n) w[4] = 0;
                    fputs(w, f);
                }
            } else {
                if (np) fputs(" <|pkt|>", f);
                for (uint32_t k = 0; k < p.n; k++) fprintf(f, " %u", buf[k]);
            }
            np++;
            c->packets++;
        }
        fputs(fmt == EXPORT_NETGPT ? "\n" : "\"}\n", f);
        c->written++;
    }
    free(buf);
    return ferror(f) ? -1 : 0;
}

static uint32_t wire_len(const uint8_t *ip, uint32_t n) {
    if (n >= 20 && ip[0] >> 4 == 4) { uint32_t L = rd16be(ip + 2); return L >= n ? L : n; }
    if (n >= 40 && ip[0] >> 4 == 6) { uint32_t L = 40u + rd16be(ip + 4); return L >= n ? L : n; }
    return n;
}

int export_pcap(const char *path, const shard *s, int64_t t0_ns, export_counts *c, char *err, size_t errlen) {
    cap_writer w;
    if (cap_writer_open(&w, path, LT_RAW, 1, 65535) != 0) { snprintf(err, errlen, "%s: cannot create", path); return -1; }
    uint8_t *buf = malloc(65536);
    if (!buf) { cap_writer_abort(&w); snprintf(err, errlen, "out of memory"); return -1; }
    int64_t t = t0_ns;
    for (uint64_t i = 0; i < s->n_seqs; i++) {
        const shard_seq *q = &s->seqs[i];
        tok_reader r;
        tok_packet p;
        tok_reader_init_fmt(&r, s->format, s->tokens + q->off, q->len, t);
        while (tok_reader_next(&r, &p, buf, 65536) == 1) {
            if (cap_writer_write(&w, p.ts_ns, buf, p.n, wire_len(buf, p.n))) {
                free(buf); cap_writer_abort(&w); snprintf(err, errlen, "%s: write failed", path); return -1;
            }
            c->packets++;
            t = p.ts_ns;
        }
        t += 1000000000;
        c->written++;
    }
    free(buf);
    if (cap_writer_close(&w)) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return 0;
}
