/* CORPUS/vocab.json read back with libcjson: see vocab.h. */
#include "corpus/vocab.h"
#include "corpus/bpe.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void corpus_labels_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* the whole file, NUL-terminated; NULL with err */
static char *slurp(const char *path, size_t max, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s (every corpus made by `pktlm prep` has one)", path, strerror(errno)); return NULL; }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            if (cap > max) { snprintf(err, errlen, "%s: larger than %zu bytes: not a vocabulary file", path, max); free(b); b = NULL; break; }
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; snprintf(err, errlen, "out of memory"); break; }
            b = nb;
        }
        size_t k = fread(b + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) { snprintf(err, errlen, "%s: read error: %s", path, strerror(errno)); free(b); b = NULL; }
            break;
        }
    }
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

static int get_int(const cJSON *o, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble) return -1;
    *out = (int)v->valuedouble;
    return 0;
}

char **corpus_labels(const char *dir, const shard *sh, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    char *text = slurp(path, (size_t)64 << 20, err, errlen);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    char **names = NULL;
    int K = sh->n_labels, vs = 0, lb = 0;
    if (!root) {
        long off = end ? (long)(end - text) : -1;
        snprintf(err, errlen, "%s: not valid JSON (at byte offset %ld): the corpus's vocabulary is damaged; make the corpus again with `pktlm prep`", path, off);
        goto out;
    }
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    if (!cJSON_IsObject(root) || get_int(root, "vocab_size", &vs) || get_int(root, "label_base", &lb) || !cJSON_IsArray(labels)) {
        snprintf(err, errlen, "%s: not a pktlm vocabulary (needs \"vocab_size\", \"label_base\" and a \"labels\" array)", path);
        goto out;
    }
    int n = cJSON_GetArraySize(labels);
    if (vs != sh->vocab_size || lb != sh->label_base || n != K) {
        snprintf(err, errlen, "%s does not belong with the corpus's token shards: %d tokens, label base %d, %d labels "
                              "(the shards: %d, %d, %d); were they written by the same `pktlm prep`?",
                 path, vs, lb, n, sh->vocab_size, sh->label_base, K);
        goto out;
    }
    names = calloc((size_t)(K > 0 ? K : 1), sizeof *names);
    if (!names) { snprintf(err, errlen, "out of memory"); goto out; }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, labels) {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            snprintf(err, errlen, "%s: label %d is not a non-empty string", path, i);
            corpus_labels_free(names, K); names = NULL; goto out;
        }
        if (!(names[i] = strdup(it->valuestring))) { snprintf(err, errlen, "out of memory"); corpus_labels_free(names, K); names = NULL; goto out; }
        i++;
    }
out:
    cJSON_Delete(root);
    free(text);
    return names;
}

void label_escape(char *out, size_t n, const char *name) {
    size_t o = 0;
    if (!n) return;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 5 < n; p++) {
        unsigned c = *p;
        if (c == '\\') { out[o++] = '\\'; out[o++] = '\\'; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        else out[o++] = (char)c;
    }
    out[o] = 0;
}

int corpus_tokenizer(const char *dir, shard *sh, char *err, size_t errlen) {
    if (sh->format != TOKFMT_BPE || sh->bpe) return 0;
    sh->bpe = corpus_bpe(dir, sh->tok_hash, err, errlen);
    return sh->bpe ? 0 : -1;
}

bpe *corpus_bpe(const char *dir, uint64_t hash, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    char *text = slurp(path, (size_t)64 << 20, err, errlen);
    if (!text) return NULL;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    bpe *b = NULL;
    if (!cJSON_IsString(t) || !t->valuestring[0])
        snprintf(err, errlen, "%s: a --tokens bpe corpus without \"tokenizer\": make the corpus again with `pktlm prep`", path);
    else if ((b = bpe_load(t->valuestring, err, errlen)) && bpe_hash(b) != hash) {
        snprintf(err, errlen, "%s is not the tokenizer.json %s was made with (hash %016llx, the corpus's %016llx)", t->valuestring,
                 dir, (unsigned long long)bpe_hash(b), (unsigned long long)hash);
        bpe_free(b);
        b = NULL;
    }
    cJSON_Delete(root);
    return b;
}
