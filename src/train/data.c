/* Corpus batches: see data.h. */
#include "train/data.h"
#include "util/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void make_perm(dataloader *d, uint64_t epoch) {
    uint64_t n = d->sh.n_seqs;
    for (uint64_t i = 0; i < n; i++) d->perm[i] = (uint32_t)i;
    if (d->shuffle) {
        uint64_t s = d->seed * 0x9E3779B97F4A7C15ull + epoch + 1;
        for (uint64_t i = n; i > 1; i--) {
            uint64_t j = splitmix64(&s) % i;
            uint32_t t = d->perm[i - 1]; d->perm[i - 1] = d->perm[j]; d->perm[j] = t;
        }
    }
    d->perm_epoch = epoch;
}

int data_open(dataloader *d, const char *path, int B, int T, int pack, int shuffle, uint64_t seed,
              char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (shard_load(&d->sh, path, err, errlen) != 0) return -1;
    for (uint64_t i = 0; i < d->sh.n_seqs; i++) d->n_usable += d->sh.seqs[i].len >= 2;
    if (d->n_usable == 0) {
        snprintf(err, errlen, "%s: no sequence of 2 or more tokens to learn from", path);
        shard_free(&d->sh);
        return -1;
    }
    d->B = B; d->r0 = 0; d->nb = B; d->T = T; d->pack = pack; d->shuffle = shuffle; d->seed = seed;
    d->perm = malloc(d->sh.n_seqs * sizeof *d->perm);
    d->tok = malloc((size_t)B * T * sizeof(int));
    d->tgt = malloc((size_t)B * T * sizeof(int));
    d->row = malloc(((size_t)T + 1) * sizeof(tok_t));
    if (!d->perm || !d->tok || !d->tgt || !d->row) { snprintf(err, errlen, "out of memory"); data_close(d); return -1; }
    make_perm(d, 0);
    return 0;
}

void data_close(dataloader *d) {
    shard_free(&d->sh);
    free(d->perm); free(d->tok); free(d->tgt); free(d->row);
    memset(d, 0, sizeof *d);
}

void data_share(dataloader *d, int r0, int nb) {
    d->r0 = r0;
    d->nb = nb;
}

void data_seek(dataloader *d, data_pos p) {
    d->pos = p;
    if (d->perm_epoch != p.epoch) make_perm(d, p.epoch);
}

static const shard_seq *seq_at(dataloader *d, data_pos *p) {
    if (p->index >= d->sh.n_seqs) { p->epoch++; p->index = 0; p->offset = 0; }
    if (d->perm_epoch != p->epoch) make_perm(d, p->epoch);
    return &d->sh.seqs[d->perm[p->index]];
}

/* Copy n stream tokens starting at *p into out (NULL: only walk), advancing a copy; return
 * the position after the first `adv` tokens. */
static data_pos stream_read(dataloader *d, data_pos p, tok_t *out, int n, int adv) {
    data_pos after = p;
    for (int i = 0; i < n; i++) {
        const shard_seq *q = seq_at(d, &p);
        while (p.offset >= q->len) { p.index++; p.offset = 0; q = seq_at(d, &p); }
        if (out) out[i] = d->sh.tokens[q->off + p.offset];
        p.offset++;
        if (i + 1 == adv) after = p;
    }
    return after;
}

int data_next(dataloader *d) {
    const int T = d->T, pad = d->sh.pad_id;
    int counted = 0;
    for (int b = 0; b < d->B; b++) {
        int mine = b >= d->r0 && b < d->r0 + d->nb;   /* another process's row: only walked past */
        int n;
        if (d->pack) {
            d->pos = stream_read(d, d->pos, mine ? d->row : NULL, T + 1, T);
            n = T + 1;
        } else {
            const shard_seq *q;
            do { q = seq_at(d, &d->pos); d->pos.index++; } while (q->len < 2);
            n = q->len < (uint32_t)T + 1 ? (int)q->len : T + 1;
            if (mine) memcpy(d->row, d->sh.tokens + q->off, (size_t)n * sizeof(tok_t));
        }
        if (!mine) continue;
        int *x = d->tok + (size_t)(b - d->r0) * T, *y = d->tgt + (size_t)(b - d->r0) * T;
        for (int t = 0; t < T; t++) {
            x[t] = t < n ? d->row[t] : pad;
            y[t] = t + 1 < n && d->row[t + 1] != pad ? d->row[t + 1] : -1;
            counted += y[t] >= 0;
        }
    }
    if (!d->pack) d->pos.offset = 0;
    return counted;
}

int data_trim(dataloader *d) {
    const int T = d->T;
    if (d->pack) return T;
    int Tr = 1;
    for (int b = 0; b < d->nb; b++)   /* this process's rows (data_share) */
        for (int t = T - 1; t >= Tr; t--)
            if (d->tgt[(size_t)b * T + t] >= 0) { Tr = t + 1; break; }
    if (Tr < T)   /* row b moves down to b * Tr <= b * T: front to back never overwrites a row not yet moved */
        for (int b = 1; b < d->nb; b++) {
            memmove(d->tok + (size_t)b * Tr, d->tok + (size_t)b * T, (size_t)Tr * sizeof(int));
            memmove(d->tgt + (size_t)b * Tr, d->tgt + (size_t)b * T, (size_t)Tr * sizeof(int));
        }
    return Tr;
}

uint64_t data_batches_per_epoch(const dataloader *d) {
    uint64_t rows = d->pack ? d->sh.n_tokens / (uint64_t)d->T : d->n_usable;
    uint64_t b = rows / (uint64_t)d->B;
    return b ? b : 1;
}
