/* tcpflowgen's field tokens: see tcpfields.h and docs/tokens.md. */
#include "corpus/tcpfields.h"
#include "corpus/tokens.h"
#include "corpus/fields.h"
#include "corpus/arrow.h"
#include "util/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tcpf_flow_type(const uint8_t *flags, size_t n) {
    if (n < 7) return TCPF_FREE;
    /* tcpflowgen reads FIN SYN RST PSH ACK URG only */
    size_t l = n - 1;
#define F(i) (flags[i] & 0x3f)
    int hs = F(0) == 0x02 && F(1) == 0x12 && F(2) == 0x10;
    int term = F(l - 3) == 0x11 && F(l - 2) == 0x10 && F(l - 1) == 0x11 && F(l) == 0x10;
#undef F
    return hs && term ? TCPF_COMPLETE : hs ? TCPF_START : term ? TCPF_END : TCPF_FREE;
}

size_t tcpf_encode_packet(tok_t *out, const uint8_t *ip, uint32_t n, int64_t ts_ns, int dir, int64_t *clock_ns) {
    int th = field_locate(FIELD_TCP_SPORT, ip, n);   /* -1 unless TCP with its header start present */
    if (th < 0 || (uint32_t)th + 20 > n) return 0;
    const uint8_t *h = ip + th;
    uint32_t hl = (uint32_t)(h[12] >> 4) * 4;
    if (hl < 20 || (uint32_t)th + hl > n) return 0;
    uint32_t size;
    if (ip[0] >> 4 == 4) { uint32_t tl = rd16be(ip + 2); size = tl >= 20 ? tl - 20 : 0; }   /* as tcpflowgen */
    else size = rd16be(ip + 4);
    int b = tok_time_bucket(ts_ns - *clock_ns);
    *clock_ns += tok_time_value(b);
    size_t k = 0;
    out[k++] = dir ? TCPF_REVERSE : TCPF_FORWARD;
    out[k++] = (tok_t)(TCPF_TIME0 + b);
    out[k++] = TCPF_PKT_SIZE;
    out[k++] = size;
    out[k++] = TCPF_HEAD;
    out[k++] = rd16be(h); out[k++] = rd16be(h + 2);          /* ports */
    out[k++] = rd16be(h + 4); out[k++] = rd16be(h + 6);      /* seq hi, lo */
    out[k++] = rd16be(h + 8); out[k++] = rd16be(h + 10);     /* ack hi, lo */
    out[k++] = h[12] >> 4;                                   /* data offset (words) */
    out[k++] = 0;                                            /* reserved */
    out[k++] = h[13];                                        /* flags */
    out[k++] = rd16be(h + 14);                               /* window */
    out[k++] = 0;                                            /* checksum */
    out[k++] = rd16be(h + 18);                               /* urgent pointer */
    for (uint32_t i = 20; i < hl; i += 2) out[k++] = rd16be(h + i);   /* hl is a multiple of 4 */
    return k;
}

int tcpf_seq_type(const tok_t *t, size_t n) {
    uint8_t first[3] = { 0 }, last[4] = { 0 };   /* the first three and the last four packets decide */
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] != TCPF_FORWARD && t[i] != TCPF_REVERSE) continue;
        /* DIR [TIME] PKT_SIZE size HEAD sport dport sh sl ah al doff 0 flags */
        size_t j = i + 1;
        if (j < n && t[j] >= TCPF_TIME0 && t[j] < TCPF_TIME0 + TCPF_NTIME) j++;
        size_t f = j + 11;   /* j: PKT_SIZE */
        uint8_t v = f < n && t[f] < 256 ? (uint8_t)t[f] : 0;
        if (np < 3) first[np] = v;
        memmove(last, last + 1, 3); last[3] = v;
        np++;
    }
    if (np < 7) return TCPF_FREE;
    uint8_t fl[7] = { first[0], first[1], first[2], last[0], last[1], last[2], last[3] };
    return tcpf_flow_type(fl, 7);
}

uint32_t tcpf_decode_packet(const tok_t *t, size_t n, size_t *pi, int ip6, uint8_t *buf, uint32_t cap, int *dir,
                            int64_t *gap_ns, int *has_time, uint64_t *bad) {
    size_t i = *pi;
    *dir = i < n && t[i] == TCPF_REVERSE;
    *gap_ns = 0; *has_time = 0;
    if (i < n && (t[i] == TCPF_FORWARD || t[i] == TCPF_REVERSE)) i++;
    uint32_t size = 0, w[TCPF_HDR_WORDS + 20];
    int nw = 0, have_size = 0, in_head = 0;
    for (; i < n; i++) {
        tok_t x = t[i];
        if (x == TCPF_FORWARD || x == TCPF_REVERSE || x == TCPF_EOS) break;
        if (x >= TCPF_TIME0 && x < TCPF_TIME0 + TCPF_NTIME && !*has_time && !in_head) {
            *gap_ns = tok_time_value((int)(x - TCPF_TIME0)); *has_time = 1;
        } else if (x == TCPF_PKT_SIZE && !have_size && !in_head && i + 1 < n && t[i + 1] < TCPF_NVALUES) {
            size = t[++i]; have_size = 1;
        } else if (x == TCPF_HEAD && !in_head) in_head = 1;
        else if (x < TCPF_NVALUES && in_head && nw < (int)(sizeof w / sizeof w[0])) w[nw++] = x;
        else (*bad)++;
    }
    *pi = i;
    /* the fixed header's 12 words (missing ones 0), then options up to the data offset */
    for (int k = nw; k < TCPF_HDR_WORDS; k++) w[k] = 0;
    uint32_t doff = w[6] & 15, hl = doff < 5 ? 20 : doff * 4;
    uint32_t iphl = ip6 ? 40 : 20;
    if (cap < iphl + hl) return 0;
    memset(buf, 0, iphl + hl);
    uint32_t total = iphl + (size > hl ? size : hl);
    if (total > 65535) total = 65535;
    if (ip6) {
        buf[0] = 0x60;
        wr16be(buf + 4, (uint16_t)(total - 40));
        buf[6] = 6; buf[7] = 64;
        buf[8] = 0xfd; buf[23] = (uint8_t)(1 + *dir);
        buf[24] = 0xfd; buf[39] = (uint8_t)(2 - *dir);
    } else {
        buf[0] = 0x45;
        wr16be(buf + 2, (uint16_t)total);
        buf[8] = 64; buf[9] = 6;
        buf[12] = 10; buf[15] = (uint8_t)(1 + *dir);
        buf[16] = 10; buf[19] = (uint8_t)(2 - *dir);
    }
    uint8_t *h = buf + iphl;
    wr16be(h, (uint16_t)w[0]); wr16be(h + 2, (uint16_t)w[1]);
    wr16be(h + 4, (uint16_t)w[2]); wr16be(h + 6, (uint16_t)w[3]);
    wr16be(h + 8, (uint16_t)w[4]); wr16be(h + 10, (uint16_t)w[5]);
    h[12] = (uint8_t)((hl / 4) << 4);
    h[13] = (uint8_t)w[8];
    wr16be(h + 14, (uint16_t)w[9]);
    wr16be(h + 18, (uint16_t)w[11]);
    for (uint32_t k = 20, j = TCPF_HDR_WORDS; k < hl && j < (uint32_t)nw; k += 2, j++) wr16be(h + k, (uint16_t)w[j]);
    return iphl + hl;
}

size_t tcpf_to_seed(const tok_t *t, size_t n, tok_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        tok_t x = t[i];
        if (i == 1 && (x == TCPF_UNLABELLED || x >= TCPF_LABEL0)) continue;   /* the label */
        if (x == TCPF_IP6 || (x >= TCPF_TIME0 && x < TCPF_TIME0 + TCPF_NTIME)) continue;
        out[k++] = x;
    }
    return k;
}

long tcpf_from_seed(const int32_t *seq, size_t n, tok_t label_tok, tok_t *out, size_t *bad_at) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t x = seq[i];
        if (x < 0 || x >= TCPF_SEED_VOCAB || (i == 0 && (x < TCPF_COMPLETE || x > TCPF_FREE))) { *bad_at = i; return -1; }
        if (x == TCPF_PAD) continue;
        out[k++] = x;
        if (i == 0) out[k++] = label_tok;
        if (x == TCPF_EOS) break;
    }
    if (k == 0) { *bad_at = 0; return -1; }
    if (out[k - 1] != TCPF_EOS) out[k++] = TCPF_EOS;
    return (long)k;
}

int tcpf_export_arrow(const shard *sh, int nsh, uint32_t file, const char *path, uint64_t *nseq, uint64_t *ntok,
                      char *err, size_t errlen) {
    uint64_t n = 0, nt = 0;
    for (int k = 0; k < nsh; k++)
        for (uint64_t i = 0; i < sh[k].n_seqs; i++)
            if (sh[k].seqs[i].file == file) { n++; nt += sh[k].seqs[i].len; }
    tok_t *v = malloc((nt + 1) * sizeof *v);
    uint64_t *offs = malloc((n + 1) * sizeof *offs);
    if (!v || !offs) { free(v); free(offs); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    uint64_t j = 0;
    offs[0] = 0;
    for (int k = 0; k < nsh; k++)
        for (uint64_t i = 0; i < sh[k].n_seqs; i++) {
            const shard_seq *q = &sh[k].seqs[i];
            if (q->file != file) continue;
            offs[j + 1] = offs[j] + tcpf_to_seed(sh[k].tokens + q->off, q->len, v + offs[j]);
            j++;
        }
    int rc = arrow_write_lists(path, "token_sequences", v, offs, n, err, errlen);
    *nseq = n; *ntok = offs[n];
    free(v); free(offs);
    return rc;
}
