/* NetGPT's published vocabulary: see netgpt_vocab.h. */
#include "corpus/netgpt_vocab.h"
#include "corpus/bigrams.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lowercase hex pieces of 1..4 digits, with or without "##": one slot each */
static const int off_len[5] = { 0, 0, 16, 16 + 256, 16 + 256 + 4096 };
#define NKEY (16 + 256 + 4096 + 65536)

static int hexval(const char *s, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        int c = (unsigned char)s[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

/* slot of piece s[0..n) (cont: a "##" piece), -1 when it is not lowercase hex of 1..4 digits */
static int key_of(const char *s, int n, int cont) {
    int v = n >= 1 && n <= 4 ? hexval(s, n) : -1;
    return v < 0 ? -1 : cont * NKEY + off_len[n] + v;
}

int netgpt_vocab_load(netgpt_vocab *v, const char *path, char *err, size_t errlen) {
    memset(v, 0, sizeof *v);
    FILE *f = fopen(path, "r");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return -1; }
    int32_t *slot = malloc(2 * NKEY * sizeof *slot);
    int cap = 1 << 16, special[BIG_W0];
    v->to_big = malloc((size_t)cap * sizeof *v->to_big);
    v->pieces = malloc((size_t)BIG_SEED_VOCAB * NGV_MAXP * sizeof *v->pieces);
    v->npieces = calloc(BIG_SEED_VOCAB, 1);
    char *line = NULL;
    size_t lcap = 0;
    int rc = slot && v->to_big && v->pieces && v->npieces ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
    for (int i = 0; !rc && i < 2 * NKEY; i++) slot[i] = -1;
    for (int i = 0; i < BIG_W0; i++) special[i] = -1;
    /* UER's Vocab.load: line n is id n, its token the first field of the stripped line (a
     * later line of the same token wins); an empty line still takes its id */
    while (!rc && getline(&line, &lcap, f) >= 0) {
        int n = v->n_lines++;
        if (n == cap) {
            int32_t *t = realloc(v->to_big, (size_t)cap * 2 * sizeof *t);
            if (!t) { snprintf(err, errlen, "out of memory"); rc = -1; break; }
            v->to_big = t;
            cap *= 2;
        }
        v->to_big[n] = -1;
        char *s = line;
        while (*s && isspace((unsigned char)*s)) s++;
        int len = 0;
        while (s[len] && !isspace((unsigned char)s[len])) len++;
        if (!len) continue;
        for (int k = 0; k < BIG_W0; k++)
            if ((int)strlen(big_special[k]) == len && !memcmp(s, big_special[k], (size_t)len)) special[k] = n, v->to_big[n] = k;
        int cont = len > 2 && s[0] == '#' && s[1] == '#', key = key_of(s + 2 * cont, len - 2 * cont, cont);
        if (key >= 0) slot[key] = n;
        if (!cont && len == 4 && key >= 0) v->to_big[n] = BIG_W0 + hexval(s, 4);
    }
    free(line);
    if (!rc && ferror(f)) { snprintf(err, errlen, "%s: read error: %s", path, strerror(errno)); rc = -1; }
    fclose(f);
    for (int k = 0; !rc && k < BIG_W0; k++)
        if (special[k] < 0) {
            snprintf(err, errlen, "%s: no line %s: not a UER-py vocabulary (NetGPT's is models/encryptd_vocab.txt, %s on line %d)",
                     path, big_special[k], big_special[k], k + 1);
            rc = -1;
        }
    for (int k = 0; !rc && k < BIG_W0; k++) { v->pieces[k * NGV_MAXP] = special[k]; v->npieces[k] = 1; }
    /* each word as UER's WordPiece splits it: the longest piece from the start, then the longest
     * "##" piece from where it ended; a word no pieces cover is [UNK] */
    for (int w = 0; !rc && w < 65536; w++) {
        char s[5];
        snprintf(s, sizeof s, "%04x", w);
        int32_t *out = v->pieces + (size_t)(BIG_W0 + w) * NGV_MAXP;
        int k = 0, start = 0;
        while (start < 4) {
            int end = 4, id = -1;
            while (end > start && (id = slot[key_of(s + start, end - start, start > 0)]) < 0) end--;
            if (id < 0) { k = 0; break; }
            out[k++] = id;
            start = end;
        }
        if (k == 0) { out[0] = special[BIG_UNK]; k = 1; v->unk++; }
        else if (k == 1) v->whole++;
        else v->split++;
        v->npieces[BIG_W0 + w] = (uint8_t)k;
    }
    free(slot);
    if (rc) netgpt_vocab_free(v);
    return rc;
}

void netgpt_vocab_free(netgpt_vocab *v) {
    free(v->pieces); free(v->npieces); free(v->to_big);
    memset(v, 0, sizeof *v);
}
