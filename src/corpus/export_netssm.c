/* NetSSM files of a corpus split: see export.h and docs/interop.md.
 * What NetSSM's code reads, and so what is written here:
 *  - train.py / preprocessing/create_tok_dataset.py: load_dataset("json") of a JSONL file and
 *    tokenizer(batch["Data"]); the preprocessor (preprocessing/main.go) writes one object per
 *    capture {"Data", "Hash" (sha256 of the file name), "Filename", "OrigLen" (packets)}.
 *  - Data: "<|label|> " then every TCP/UDP packet of the capture as the decimal values of
 *    its bytes from the Ethernet header: the headers (link, IP, TCP with options; UDP's 8 plus
 *    the first 12 payload bytes), zero-padded or cut to 128; packets joined by " <|pkt|> ".
 *    Captures of fewer than 2 such packets are left out.
 *  - the tokenizer folder (tokenizers/create_tokenizer.py): a WordLevel model "0".."255" ->
 *    0..255, "<|unk|>" 256, whitespace pre-tokenizer, then the special tokens <|endoftext|>,
 *    <|padding|>, <|pkt|>, <|unk|> and one "<|label|>" token per label (a label must be one
 *    word: the script takes them as a space-separated list).
 *  - generation/conversion.py reads each generated packet back with scapy's Ether(). */
#include "corpus/export.h"
#include "corpus/tokens.h"
#include "capture/packet.h"
#include "util/util.h"
#include "util/sha256.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int netssm_packet(const uint8_t *ip, uint32_t n, int dir, uint8_t out[NETSSM_PKT_BYTES]) {
    pkt_info pi;
    if (pkt_parse_ip(ip, n, 0, &pi) != PKT_IP || pi.frag != FRAG_NONE || !pi.has_l4) return 0;
    uint32_t end;
    if (pi.proto == 6) end = pi.l4_off + pi.l4_hdr_len;
    else if (pi.proto == 17) end = pi.payload_off + (pi.payload_caplen < NETSSM_UDP_PAYLOAD ? pi.payload_caplen : NETSSM_UDP_PAYLOAD);
    else return 0;
    if (end > n) end = n;
    if (end > NETSSM_PKT_BYTES - 14) end = NETSSM_PKT_BYTES - 14;
    memset(out, 0, NETSSM_PKT_BYTES);
    export_ether_header(out, dir, ip[0]);
    memcpy(out + 14, ip, end);
    return 1;
}

/* the order of a split's sequences in the lines: capture, label, flow (= order of the flow's
 * first packet), then the order in the shard (capture windows of one capture are in order) */
typedef struct { uint32_t file; int32_t label; uint32_t flow; uint64_t i; } seq_ref;
static int cmp_ref(const void *a, const void *b) {
    const seq_ref *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    if (x->flow != y->flow) return x->flow < y->flow ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Walks the kept packets of refs[a, b): 1 with the next one in out, 0 at the end. */
typedef struct {
    const shard *s; const seq_ref *refs; uint64_t a, b, cur;
    tok_reader r; int open;
    uint8_t *buf;
    uint64_t skipped;
} line_walk;
static int walk_next(line_walk *w, uint8_t out[NETSSM_PKT_BYTES]) {
    for (;;) {
        if (!w->open) {
            if (w->cur == w->b) return 0;
            const shard_seq *q = &w->s->seqs[w->refs[w->cur++].i];
            shard_reader_init(&w->r, w->s, q, 0);
            w->open = 1;
        }
        tok_packet p;
        if (tok_reader_next(&w->r, &p, w->buf, 65536) != 1) { w->open = 0; continue; }
        if (netssm_packet(w->buf, p.n, p.dir, out)) return 1;
        w->skipped++;
    }
}
static void walk_init(line_walk *w, const shard *s, const seq_ref *refs, uint64_t a, uint64_t b, uint8_t *buf) {
    *w = (line_walk){ .s = s, .refs = refs, .a = a, .b = b, .cur = a, .buf = buf };
}

int netssm_write(FILE *f, const shard *s, const netssm_opts *o, netssm_counts *c) {
    seq_ref *refs = malloc((s->n_seqs + 1) * sizeof *refs);
    uint8_t *buf = malloc(65536);
    if (!refs || !buf) { free(refs); free(buf); return -1; }
    for (uint64_t i = 0; i < s->n_seqs; i++)
        refs[i] = (seq_ref){ s->seqs[i].file, s->seqs[i].label, s->seqs[i].flow, i };
    qsort(refs, s->n_seqs, sizeof *refs, cmp_ref);
    char dec[256][4];
    for (int v = 0; v < 256; v++) {          /* decimal text of each byte value */
        char *d = dec[v];
        if (v >= 100) *d++ = (char)('0' + v / 100);
        if (v >= 10) *d++ = (char)('0' + v / 10 % 10);
        *d++ = (char)('0' + v % 10);
        *d = 0;
    }
    uint8_t pk[NETSSM_PKT_BYTES];
    for (uint64_t a = 0, b; a < s->n_seqs; a = b) {
        for (b = a + 1; b < s->n_seqs && refs[b].file == refs[a].file && refs[b].label == refs[a].label; b++) {}
        /* first pass: how many packets the line gets (OrigLen, and NetSSM's "fewer than 2") */
        line_walk w;
        uint64_t np = 0;
        walk_init(&w, s, refs, a, b, buf);
        while ((o->max_packets <= 0 || np < (uint64_t)o->max_packets) && walk_next(&w, pk)) np++;
        c->not_tcp_udp += w.skipped;
        if (np < 2) { c->short_lines++; continue; }
        char name[64];
        const char *fn = name;
        if (o->inputs && refs[a].file < (uint32_t)o->n_inputs) fn = o->inputs[refs[a].file];
        else snprintf(name, sizeof name, "capture-%u", refs[a].file);
        int lab = refs[a].label;
        fputs("{\"Data\":\"", f);
        fputs(o->tokens[lab >= 0 ? lab : (int)s->n_labels], f);
        walk_init(&w, s, refs, a, b, buf);
        for (uint64_t k = 0; k < np && walk_next(&w, pk); k++) {
            if (k) fputs(" <|pkt|>", f);
            for (int j = 0; j < NETSSM_PKT_BYTES; j++) { fputc(' ', f); fputs(dec[pk[j]], f); }
        }
        sha256_ctx h;
        uint8_t d[32];
        sha256_init(&h);
        sha256_update(&h, fn, strlen(fn));
        sha256_final(&h, d);
        fputs("\",\"Hash\":\"", f);
        for (int j = 0; j < 32; j++) fprintf(f, "%02x", d[j]);
        fputs("\",\"Filename\":\"", f);
        json_escape(f, fn);
        fprintf(f, "\",\"OrigLen\":%llu}\n", (unsigned long long)np);
        c->lines++;
        c->packets += np;
    }
    free(refs);
    free(buf);
    return ferror(f) ? -1 : 0;
}

char **netssm_label_tokens(char **labels, int n_labels) {
    char **t = calloc((size_t)n_labels + 1, sizeof *t);
    if (!t) return NULL;
    for (int i = 0; i <= n_labels; i++) {
        const char *src = i < n_labels ? labels[i] : "unlabelled";
        size_t L = strlen(src);
        char *w = malloc(L + 16), *p = w;
        if (!w) goto oom;
        /* one word of [A-Za-z0-9_.-]: anything else becomes '_', runs of '_' one */
        for (const char *q = src; *q; q++) {
            char ch = *q;
            int okc = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
            if (!okc) ch = '_';
            if (ch == '_' && (p == w || p[-1] == '_')) continue;
            *p++ = ch;
        }
        while (p > w && p[-1] == '_') p--;
        if (p == w) { strcpy(w, "label"); p = w + 5; }
        *p = 0;
        /* unique: a second "a b" / "a_b" becomes a_b_2, a_b_3 ... */
        char *u = malloc(L + 40);
        if (!u) { free(w); goto oom; }
        for (int k = 1;; k++) {
            if (k == 1) snprintf(u, L + 40, "<|%s|>", w);
            else snprintf(u, L + 40, "<|%s_%d|>", w, k);
            int clash = 0;
            for (int j = 0; j < i && !clash; j++) clash = !strcmp(t[j], u);
            if (!clash) break;
        }
        free(w);
        t[i] = u;
    }
    return t;
oom:
    for (int i = 0; i <= n_labels; i++) free(t[i]);
    free(t);
    return NULL;
}

static const char *const SPECIAL[4] = { "<|unk|>", "<|endoftext|>", "<|padding|>", "<|pkt|>" };

static void added_token(FILE *f, int id, const char *content, int indent, int as_map) {
    if (as_map) fprintf(f, "%*s\"%d\": {\n", indent, "", id);
    else fprintf(f, "%*s{\n%*s\"id\": %d,\n", indent, "", indent + 2, "", id);
    fprintf(f, "%*s\"content\": \"%s\",\n", indent + 2, "", content);
    fprintf(f, "%*s\"single_word\": false,\n%*s\"lstrip\": false,\n%*s\"rstrip\": false,\n", indent + 2, "", indent + 2, "", indent + 2, "");
    fprintf(f, "%*s\"normalized\": false,\n%*s\"special\": true\n%*s}", indent + 2, "", indent + 2, "", indent, "");
}

static int commit(atomic_file *a, FILE *f, const char *path, char *err, size_t errlen) {
    if (ferror(f)) { snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno)); atomic_abort(a); return -1; }
    return atomic_commit(a, err, errlen);
}

int netssm_write_tokenizer(const char *dir, char **tokens, int n, char *err, size_t errlen) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) { snprintf(err, errlen, "%s: %s", dir, strerror(errno)); return -1; }
    char path[4200];
    atomic_file a;
    FILE *f;
    /* the tokenizers library's own file: the model, the pre-tokenizer, the added tokens */
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!(f = atomic_open(&a, path, err, errlen))) return -1;
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n", f);
    for (int i = 0; i < 4 + n; i++) {
        added_token(f, 256 + i, i < 4 ? SPECIAL[i] : tokens[i - 4], 4, 0);
        fputs(i + 1 < 4 + n ? ",\n" : "\n", f);
    }
    fputs("  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\n    \"type\": \"Whitespace\"\n  },\n"
          "  \"post_processor\": null,\n  \"decoder\": null,\n  \"model\": {\n    \"type\": \"WordLevel\",\n    \"vocab\": {\n", f);
    for (int v = 0; v < 256; v++) fprintf(f, "      \"%d\": %d,\n", v, v);
    fputs("      \"<|unk|>\": 256\n    },\n    \"unk_token\": \"<|unk|>\"\n  }\n}\n", f);
    if (commit(&a, f, path, err, errlen)) return -1;
    /* transformers' wrapper: which class, and which tokens are eos / pad / unk */
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (!(f = atomic_open(&a, path, err, errlen))) return -1;
    fputs("{\n  \"added_tokens_decoder\": {\n", f);
    for (int i = 0; i < 4 + n; i++) {
        added_token(f, 256 + i, i < 4 ? SPECIAL[i] : tokens[i - 4], 4, 1);
        fputs(i + 1 < 4 + n ? ",\n" : "\n", f);
    }
    fputs("  },\n  \"clean_up_tokenization_spaces\": true,\n  \"eos_token\": \"<|endoftext|>\",\n"
          "  \"model_max_length\": 1000000000000000019884624838656,\n  \"pad_token\": \"<|padding|>\",\n"
          "  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"unk_token\": \"<|unk|>\"\n}\n", f);
    if (commit(&a, f, path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    if (!(f = atomic_open(&a, path, err, errlen))) return -1;
    fputs("{\n  \"eos_token\": \"<|endoftext|>\",\n  \"pad_token\": \"<|padding|>\",\n  \"unk_token\": \"<|unk|>\"\n}\n", f);
    return commit(&a, f, path, err, errlen);
}
