/* Batched incremental decoding of flows and their merge into one trace (generate.h). */
#include "gen/generate.h"
#include "gen/sampler.h"
#include "nn/barrier.h"
#include "corpus/tokens.h"
#include "corpus/tcpfields.h"
#include "corpus/bigrams.h"
#include "corpus/prep.h"
#include "corpus/bpe.h"
#include "corpus/vocab.h"
#include "models/checkpoint.h"
#include "models/model.h"
#include "util/util.h"
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- grammar mask ---- */
void gen_gram_init(gen_gram *g) { memset(g, 0, sizeof *g); g->phase = GM_BOS; g->mtu = 1500; }

int gen_tcp_flags_valid(int b) {
    enum { FIN = 1, SYN = 2, RST = 4, ACK = 16 };
    if ((b & SYN) && (b & (FIN | RST))) return 0;   /* SYN-FIN, SYN-RST: never sent by a stack */
    if ((b & RST) && (b & FIN)) return 0;
    return (b & (SYN | RST | ACK)) != 0;            /* after the SYN every segment carries ACK */
}

/* The byte a later packet must have at its position because the flow fixes it: an address
 * (IPv4 bytes 12..19, IPv6 8..39) or a TCP/UDP port (the first 4 bytes after the IP header),
 * the first packet's, source and destination swapped in the reverse direction; -1 if free. */
static int gram_fixed_byte(const gen_gram *g) {
    const int n = g->nbytes, al = g->ver == 4 ? 4 : 16, a0 = g->ver == 4 ? 12 : 8;
    if (n >= a0 && n < a0 + 2 * al) {
        int side = (n - a0) / al;   /* 0 source, 1 destination */
        return g->addr[side ^ g->dir][(n - a0) % al];
    }
    if ((g->proto == 6 || g->proto == 17) && n >= g->ihl && n < g->ihl + 4) {
        int side = (n - g->ihl) / 2;
        return g->port[side ^ g->dir][(n - g->ihl) % 2];
    }
    return -1;
}

/* The packet holds as many bytes as its length field says: it ends (a packet may end
 * earlier, as a snaplen or prep's byte limit cuts it, but never runs past its own length) */
static int gram_full(const gen_gram *g) { return g->strict_headers && g->total && g->nbytes >= g->total; }

/* The smallest IP total length the current packet may declare: IP header plus the fixed
 * transport header of its protocol (the flow's, once known; else UDP/ICMP's 8 bytes) */
static int gram_min_total(const gen_gram *g) {
    int p = g->proto ? g->proto : !g->capture ? g->flow_proto : 0;
    return g->ihl + (p == 6 ? 20 : 8);
}

/* Header rules that keep a packet as the trace writer writes it (trace.c repairs each of
 * these otherwise, and a repaired packet is not what the model meant): fills ok and returns 1
 * when the byte at g->nbytes is one of them. The length field comes before the protocol and
 * the data offset, so it only has to hold the smallest headers; the protocol and the data
 * offset then respect it. Small models lose count of byte offsets in later packets and write
 * other fields' values here (docs/generate.md: 25-46 % of packets repaired without these). */
static int gram_header_byte(const gen_gram *g, uint8_t *ok) {
    const int n = g->nbytes, v4 = g->ver == 4;
    const int lo_pos = v4 ? 2 : 4;                      /* IPv4 total length, IPv6 payload length */
    const int base = v4 ? 0 : 40;                       /* what the field leaves out */
    if (n == lo_pos || n == lo_pos + 1) {
        int lo = gram_min_total(g) - base, hi = g->mtu - base;
        for (int b = 0; b < 256; b++) {
            int vmin = n == lo_pos ? b << 8 : g->len_hi << 8 | b, vmax = n == lo_pos ? b << 8 | 255 : vmin;
            ok[b] = vmax >= lo && vmin <= hi;
        }
        return 1;
    }
    if (v4 && n == 6) { ok[0] = ok[0x40] = 1; return 1; }      /* DF or nothing, never a fragment */
    if (v4 && n == 7) { ok[0] = 1; return 1; }
    if (n == (v4 ? 8 : 7)) { memset(ok + 1, 1, 255); return 1; }  /* TTL / hop limit > 0 */
    if (g->proto != 6 || n < g->ihl + 20 || n >= g->opt_end) return 0;
    /* the TCP option list, inside the data offset */
    if (g->opt_eol) { ok[0] = 1; return 1; }
    if (n == g->opt_next) {
        const int room = g->opt_end - n;
        ok[0] = ok[1] = 1;
        ok[2] = room >= 4; ok[3] = room >= 3; ok[4] = room >= 2; ok[5] = ok[8] = room >= 10;
        return 1;
    }
    if (n == g->opt_len_pos) {
        const int room = g->opt_end - (n - 1), k = g->opt_kind;
        if (k == 5) { for (int l = 10; l <= room; l += 8) ok[l] = 1; }
        else ok[k == 2 ? 4 : k == 3 ? 3 : k == 4 ? 2 : 10] = 1;
        return 1;
    }
    return 0;
}

/* The values the byte at position g->nbytes of the current packet may take (ok[0..255]), in a
 * packet of the bytes or the bigrams format: the rules of gen_gram (generate.h) that fix or
 * narrow a byte. A packet of bigrams has no direction token: its direction is its source
 * address (the reader's rule, corpus/tokens.c), so a later packet's source address is one of
 * the flow's two (g->cand: the sides its bytes still match) and fixes the direction for its
 * destination address and ports. Returns 1 when the byte is free (every value, and a packet
 * may end before it once its headers are complete). */
static int gram_next_byte(const gen_gram *g, uint8_t *ok) {
    const int n = g->nbytes;
    memset(ok, 0, 256);
    if (n == 0) {
        /* IPv4 (header length >= 5 words) or IPv6; after the first packet, the flow's
         * version (a flow is one 5-tuple) */
        if (g->flow_ver != 6) for (int b = 0x45; b < (g->strict_headers ? 0x46 : 0x50); b++) ok[b] = 1;
        if (g->flow_ver != 4) for (int b = 0x60; b < 0x70; b++) ok[b] = 1;
    } else if ((g->ver == 4 && n == 9) || (g->ver == 6 && n == 6)) {
        /* the protocol byte: only what the trace writer can write, then the flow's */
        if (g->flow_proto) ok[g->flow_proto] = 1;
        else { ok[6] = ok[17] = 1; ok[g->ver == 4 ? 1 : 58] = 1; }
        /* TCP only where the length field holds its 20 bytes */
        if (g->strict_headers && g->total && g->total < g->ihl + 20 && !(g->flow_proto == 6)) ok[6] = 0;
    } else if (g->npkts > 1 && !g->capture && (g->fmt == TOKFMT_BIGRAMS || g->fmt == TOKFMT_BPE) && n >= (g->ver == 4 ? 12 : 8) &&
               n < (g->ver == 4 ? 16 : 24)) {
        const int a0 = g->ver == 4 ? 12 : 8;
        for (int s = 0; s < 2; s++)
            if (g->cand >> s & 1) ok[g->addr[s][n - a0]] = 1;
    } else if (g->npkts > 1 && !g->capture && gram_fixed_byte(g) >= 0) {
        /* (a capture window interleaves flows: no packet's addresses fix the next one's) */
        ok[gram_fixed_byte(g)] = 1;
    } else if (g->proto == 6 && !g->raw_tcp_flags && n == g->ihl + 12) {
        /* TCP data offset >= 5 words, reserved bits zero (NS, the low bit, either). A small
         * model that loses count of a later packet's bytes samples these two bytes from
         * other fields' values: without this, 37 % of the TCP segments of the requet model
         * carried impossible flags and RST appeared in 56 % of its flows (docs/generate.md) */
        for (int b = 0x50; b < 0x100; b += 0x10)
            if (!g->strict_headers || !g->total || g->ihl + (b >> 4) * 4 <= g->total) ok[b] = ok[b | 1] = 1;
    } else if (g->proto == 6 && !g->raw_tcp_flags && n == g->ihl + 13) {
        for (int b = 0; b < 256; b++) ok[b] = (uint8_t)gen_tcp_flags_valid(b);
    } else if ((g->proto == 1 || g->proto == 58) && n == g->ihl) {
        /* ICMP type: echo request/reply, the messages the writer keeps */
        if (g->proto == 1) ok[0] = ok[8] = 1;
        else ok[128] = ok[129] = 1;
    } else if (g->strict_headers && gram_header_byte(g, ok)) {
        /* a header byte the writer would otherwise repair (gram_header_byte) */
    } else {
        memset(ok, 1, 256);
        return 1;
    }
    return 0;
}

/* A packet starts: its per-packet grammar state */
static void gram_packet_start(gen_gram *g) {
    g->nbytes = 0; g->min_len = 20; g->proto = 0; g->ihl = 20; g->cand = 3;
    g->len_hi = g->total = 0; g->opt_end = g->opt_next = g->opt_len_pos = -1; g->opt_kind = g->opt_eol = 0;
}

/* Byte t of the current packet (bytes and bigrams) */
static void gram_push_byte(gen_gram *g, int t) {
    int n = g->nbytes;
    if (n == 0) {
        g->ver = t >> 4;
        if (g->npkts == 1 && !g->capture) g->flow_ver = g->ver;
        g->ihl = g->ver == 4 ? (t & 15) * 4 : 40;
        g->proto = 0;
        g->min_len = g->ihl > 20 ? g->ihl : 20;
    }
    if ((g->ver == 4 && n == 9) || (g->ver == 6 && n == 6)) {
        g->proto = t;
        if (g->npkts == 1 && !g->capture) g->flow_proto = t;
        g->min_len = g->ihl + (t == 6 ? 20 : 8);
    }
    const int lo_pos = g->ver == 4 ? 2 : 4;
    if (n == lo_pos) g->len_hi = t;
    if (n == lo_pos + 1) g->total = (g->len_hi << 8 | t) + (g->ver == 4 ? 0 : 40);
    if (g->proto == 6 && n == g->ihl + 12) {
        g->opt_end = g->ihl + (t >> 4) * 4; g->opt_next = g->ihl + 20; g->opt_eol = 0; g->opt_len_pos = -1;
    } else if (g->proto == 6 && n >= g->ihl + 20 && n < g->opt_end && !g->opt_eol) {
        if (n == g->opt_next) {
            if (t == 0) g->opt_eol = 1;
            else if (t == 1) g->opt_next = n + 1;
            else { g->opt_kind = t; g->opt_len_pos = n + 1; }
        } else if (n == g->opt_len_pos) {
            g->opt_next = n - 1 + (t < 2 ? 2 : t);
        }
    }
    const int al = g->ver == 4 ? 4 : 16, a0 = g->ver == 4 ? 12 : 8;
    if (g->npkts == 1) {   /* the flow's addresses and ports, as side a sends them */
        if (n >= a0 && n < a0 + 2 * al) g->addr[(n - a0) / al][(n - a0) % al] = (uint8_t)t;
        if (n >= g->ihl && n < g->ihl + 4) g->port[(n - g->ihl) / 2][(n - g->ihl) % 2] = (uint8_t)t;
    } else if ((g->fmt == TOKFMT_BIGRAMS || g->fmt == TOKFMT_BPE) && n >= a0 && n < a0 + al) {
        /* bigrams and bpe: the source address says the direction */
        for (int s = 0; s < 2; s++)
            if (g->addr[s][n - a0] != t) g->cand &= ~(1 << s);
        if (n == a0 + al - 1) g->dir = !(g->cand & 1);
    }
    g->nbytes++;
}

/* fields (tcpfields.h). phase: GM_BOS (type), GM_LABEL, GM_FIRST_PKT (IP6 or the first
 * DIR), GM_DIR (DIR or EOS), GM_TIME, GM_BYTES (PKT_SIZE size HEAD words...) */
static void fields_mask(const gen_gram *g, uint8_t *allowed, int V, int label_lo, int label_hi) {
    switch (g->phase) {
    case GM_BOS: for (int t = TCPF_COMPLETE; t <= TCPF_FREE; t++) allowed[t] = 1; break;
    case GM_LABEL:
        for (int t = label_lo; t < label_hi && t < V; t++) allowed[t] = 1;
        if (label_hi <= label_lo) allowed[TCPF_UNLABELLED] = 1;
        break;
    case GM_FIRST_PKT: allowed[TCPF_FORWARD] = 1; if (g->npkts == 0 && g->pos == 2) allowed[TCPF_IP6] = 1; break;
    case GM_DIR: allowed[TCPF_FORWARD] = allowed[TCPF_REVERSE] = allowed[TCPF_EOS] = 1; break;
    case GM_TIME:
        if (g->npkts == 1) allowed[TCPF_TIME0] = 1;
        else for (int k = 0; k < TCPF_NTIME; k++) allowed[TCPF_TIME0 + k] = 1;
        break;
    case GM_BYTES:
        if (g->word == -3) allowed[TCPF_PKT_SIZE] = 1;
        else if (g->word == -2) for (int v = 20; v < TCPF_NVALUES; v++) allowed[v] = 1;   /* at least a TCP header */
        else if (g->word == -1) allowed[TCPF_HEAD] = 1;
        else if (g->word < 2 && g->npkts > 1) allowed[g->fport[g->word ^ g->dir]] = 1;   /* the flow's ports */
        else if (g->word == 6) for (int v = 5; v < 16; v++) allowed[v] = 1;                /* data offset */
        else if (g->word == 7 || g->word == 10) allowed[0] = 1;                            /* reserved, checksum */
        else if (g->word == 8) for (int v = 0; v < 256; v++) allowed[v] = g->raw_tcp_flags || gen_tcp_flags_valid(v);
        else if (g->word < TCPF_HDR_WORDS + g->nopt) for (int v = 0; v < TCPF_NVALUES; v++) allowed[v] = 1;
        else allowed[TCPF_FORWARD] = allowed[TCPF_REVERSE] = allowed[TCPF_EOS] = 1;
        break;
    default: allowed[TCPF_EOS] = 1; break;
    }
}

/* a DIR starts a packet; EOS ends the flow */
static void fields_dir(gen_gram *g, int t) {
    if (t == TCPF_EOS) { g->phase = GM_END; return; }
    g->npkts++; g->dir = t == TCPF_REVERSE; g->phase = GM_TIME;
}

static void fields_push(gen_gram *g, int t) {
    switch (g->phase) {
    case GM_BOS: g->phase = GM_LABEL; break;
    case GM_LABEL: g->phase = GM_FIRST_PKT; break;
    case GM_FIRST_PKT: if (t != TCPF_IP6) fields_dir(g, t); break;
    case GM_DIR: fields_dir(g, t); break;
    case GM_TIME: g->phase = GM_BYTES; g->word = -3; g->nopt = 0; break;
    case GM_BYTES:
        if (g->word >= TCPF_HDR_WORDS + g->nopt) { fields_dir(g, t); break; }   /* the next DIR or EOS */
        if (g->word >= 0 && g->word < 2 && g->npkts == 1) g->fport[g->word] = t;
        if (g->word == 6) g->nopt = (t - 5) * 2;
        g->word++;
        break;
    default: break;
    }
}

/* bigrams (bigrams.h): GM_BOS, GM_LABEL, GM_FIRST_PKT (<pkt>), GM_BYTES (words) */
static void bigrams_mask(const gen_gram *g, uint8_t *allowed, int V, int label_lo, int label_hi) {
    switch (g->phase) {
    case GM_BOS: allowed[BIG_CLS] = 1; break;
    case GM_LABEL:
        for (int t = label_lo; t < label_hi && t < V; t++) allowed[t] = 1;
        if (label_hi <= label_lo) allowed[BIG_UNLABELLED] = 1;
        break;
    case GM_FIRST_PKT: allowed[BIG_PKT] = 1; break;
    case GM_BYTES: {
        /* the byte format's rules on the byte each word adds (the first word: bytes 0 and 1,
         * byte 1 free); a word overlaps the previous one */
        uint8_t ok[256];
        if (gram_full(g)) memset(ok, 0, 256);
        else gram_next_byte(g, ok);
        for (int b = 0; b < 256; b++)
            if (ok[b]) {
                if (g->nbytes == 0) for (int b1 = 0; b1 < 256; b1++) allowed[BIG_W0 + (b << 8 | b1)] = 1;
                else allowed[BIG_W0 + ((g->prev & 0xff) << 8 | b)] = 1;
            }
        /* a packet ends only after its headers (IP, then 20 bytes of TCP or 8 of UDP/ICMP) */
        if (g->nbytes >= g->min_len) allowed[BIG_PKT] = allowed[BIG_SEP] = 1;
        break;
    }
    default: allowed[BIG_SEP] = 1; break;
    }
}

static void bigrams_push(gen_gram *g, int t) {
    switch (g->phase) {
    case GM_BOS: g->phase = GM_LABEL; break;
    case GM_LABEL: g->phase = GM_FIRST_PKT; break;
    case GM_FIRST_PKT: g->phase = GM_BYTES; g->npkts = 1; gram_packet_start(g); break;
    case GM_BYTES:
        if (t == BIG_PKT) { g->npkts++; gram_packet_start(g); }
        else if (t == BIG_SEP) g->phase = GM_END;
        else if (t >= BIG_W0 && t < BIG_W0 + 65536) {
            g->prev = t - BIG_W0;
            if (g->nbytes == 0) gram_push_byte(g, g->prev >> 8);
            gram_push_byte(g, g->prev & 0xff);
        }
        break;
    default: break;
    }
}

/* ---- bpe: NetGPT's hex text, "\n" w0 " " w1 " " ... with w(k) = hex(byte k) hex(byte k+1) ---- */
int gen_bpe_init(gen_bpe *gb, const bpe *b, const tok_format *tf) {
    memset(gb, 0, sizeof *gb);
    gb->n_ids = bpe_n_ids(b);
    gb->bos = tf->bos; gb->eos = tf->eos; gb->pkt = tf->pkt; gb->unlabelled = tf->unlabelled;
    gb->tok_node = malloc((size_t)gb->n_ids * sizeof *gb->tok_node);
    gb->cap = 1024;
    gb->child = malloc((size_t)gb->cap * sizeof *gb->child);
    gb->tok = malloc((size_t)gb->cap * sizeof *gb->tok);
    gb->parent = malloc((size_t)gb->cap * sizeof *gb->parent);
    gb->pchar = malloc((size_t)gb->cap);
    if (!gb->tok_node || !gb->child || !gb->tok || !gb->parent || !gb->pchar) { gen_bpe_free(gb); return -1; }
    memset(gb->child[0], 0xff, sizeof gb->child[0]);
    gb->tok[0] = -1;
    gb->nodes = 1;
    uint8_t s[256];
    for (int id = 0; id < gb->n_ids; id++) {
        gb->tok_node[id] = -1;
        int L = bpe_decode_id(b, id, s, (int)sizeof s);
        if (L < 1 || L > (int)sizeof s || id == gb->pkt || id == gb->eos) continue;
        int k = 0;
        for (; k < L; k++) if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f') || s[k] == ' ')) break;
        if (k < L) continue;   /* not hex text: never allowed inside a packet */
        int node = 0;
        for (k = 0; k < L; k++) {
            int c = s[k] == ' ' ? 16 : s[k] <= '9' ? s[k] - '0' : s[k] - 'a' + 10;
            if (gb->child[node][c] < 0) {
                if (gb->nodes == gb->cap) {
                    int nc = 2 * gb->cap;
                    void *a = realloc(gb->child, (size_t)nc * sizeof *gb->child), *t, *q, *r;
                    if (a) gb->child = a;
                    if ((t = realloc(gb->tok, (size_t)nc * sizeof *gb->tok))) gb->tok = t;
                    if ((q = realloc(gb->parent, (size_t)nc * sizeof *gb->parent))) gb->parent = q;
                    if ((r = realloc(gb->pchar, (size_t)nc))) gb->pchar = r;
                    if (!a || !t || !q || !r) { gen_bpe_free(gb); return -1; }
                    gb->cap = nc;
                }
                memset(gb->child[gb->nodes], 0xff, sizeof gb->child[0]);
                gb->tok[gb->nodes] = -1;
                gb->parent[gb->nodes] = node;
                gb->pchar[gb->nodes] = (uint8_t)c;
                gb->child[node][c] = gb->nodes++;
            }
            node = gb->child[node][c];
        }
        if (gb->tok[node] < 0) { gb->tok[node] = id; gb->tok_node[id] = node; gb->n_hex++; }   /* a text listed twice: its first id */
    }
    return 0;
}

void gen_bpe_free(gen_bpe *gb) {
    free(gb->child); free(gb->tok); free(gb->tok_node); free(gb->parent); free(gb->pchar);
    memset(gb, 0, sizeof *gb);
}

/* The digit the next character must be: a word's first two repeat the previous word's last
 * byte (>= 0); -1 a digit of a new byte; -2 only a space (the word is complete). */
static int hex_want(const gen_gram *g) {
    if (g->hc == 4) return -2;
    if (g->hc < 2 && g->nbytes >= 2) return g->hc == 0 ? g->prevb >> 4 : g->prevb & 15;
    return -1;
}
/* Character c (0..15 a digit, 16 a space) may come next; ok: gram_next_byte of g when hex_want is -1. */
static int hex_allowed(const gen_gram *g, int c, const uint8_t *ok) {
    int w = hex_want(g);
    if (w == -2 || c == 16) return w == -2 && c == 16;
    if (w >= 0) return c == w;
    if (g->hc == 1 || g->hc == 3) return ok[g->hi << 4 | c];
    for (int lo = 0; lo < 16; lo++) if (ok[c << 4 | lo]) return 1;   /* a high digit some byte allowed starts with */
    return 0;
}
static void hex_apply(gen_gram *g, int c) {
    if (c == 16) { g->hc = 0; return; }
    if (!(g->hc < 2 && g->nbytes >= 2)) {   /* a new byte's digit */
        if (g->hc == 0 || g->hc == 2) g->hi = c;
        else { g->prevb = g->hi << 4 | c; gram_push_byte(g, g->prevb); }
    }
    g->hc++;
}
/* every token below trie node `node` whose characters are allowed from state g */
static void hex_walk(const gen_bpe *gb, int node, const gen_gram *g, uint8_t *allowed) {
    uint8_t ok[256];
    if (hex_want(g) == -1) gram_next_byte(g, ok);
    for (int c = 0; c < 17; c++) {
        int ch = gb->child[node][c];
        if (ch < 0 || !hex_allowed(g, c, ok)) continue;
        gen_gram g2 = *g;
        hex_apply(&g2, c);
        if (gb->tok[ch] >= 0) allowed[gb->tok[ch]] = 1;
        hex_walk(gb, ch, &g2, allowed);
    }
}

static void bpe_mask(const gen_gram *g, uint8_t *allowed, int V, int label_lo, int label_hi) {
    const gen_bpe *gb = g->bpe;
    switch (g->phase) {
    case GM_BOS: allowed[gb->bos] = 1; break;
    case GM_LABEL:
        for (int t = label_lo; t < label_hi && t < V; t++) allowed[t] = 1;
        if (label_hi <= label_lo) allowed[gb->unlabelled] = 1;
        break;
    case GM_FIRST_PKT: allowed[gb->pkt] = 1; break;
    case GM_BYTES:
        hex_walk(gb, 0, g, allowed);
        /* a packet ends after a whole word, once its headers are complete */
        if (g->hc == 4 && g->nbytes >= g->min_len) allowed[gb->pkt] = allowed[gb->eos] = 1;
        break;
    default: allowed[gb->eos] = 1; break;
    }
}

static void bpe_push(gen_gram *g, int t) {
    const gen_bpe *gb = g->bpe;
    switch (g->phase) {
    case GM_BOS: g->phase = GM_LABEL; break;
    case GM_LABEL: g->phase = GM_FIRST_PKT; break;
    case GM_FIRST_PKT: g->phase = GM_BYTES; g->npkts = 1; gram_packet_start(g); g->hc = 0; break;
    case GM_BYTES:
        if (t == gb->pkt) { g->npkts++; gram_packet_start(g); g->hc = 0; }
        else if (t == gb->eos) g->phase = GM_END;
        else if (t >= 0 && t < gb->n_ids && gb->tok_node[t] >= 0) {
            /* the token's characters: the path from the root to its node, found from the root
             * (a forced prompt's token is applied as it is) */
            int path[256], n = 0;
            for (int node = gb->tok_node[t]; node > 0 && n < 256; node = gb->parent[node]) path[n++] = gb->pchar[node];
            while (n > 0) hex_apply(g, path[--n]);
        }
        break;
    default: break;
    }
}

void gen_gram_mask(const gen_gram *g, uint8_t *allowed, int V, int label_lo, int label_hi) {
    memset(allowed, 0, (size_t)V);
    if (g->fmt == TOKFMT_BPE && g->bpe) { bpe_mask(g, allowed, V, label_lo, label_hi); return; }
    if (g->fmt == TOKFMT_FIELDS) { fields_mask(g, allowed, V, label_lo, label_hi); return; }
    if (g->fmt == TOKFMT_BIGRAMS) { bigrams_mask(g, allowed, V, label_lo, label_hi); return; }
    switch (g->phase) {
    case GM_BOS: allowed[TOK_BOS] = 1; break;
    case GM_LABEL:
        for (int t = label_lo; t < label_hi && t < V; t++) allowed[t] = 1;
        if (label_hi <= label_lo) allowed[TOK_UNLABELLED] = 1;
        break;
    case GM_FIRST_PKT: allowed[TOK_PKT] = 1; break;
    case GM_DIR:
        allowed[TOK_DIR_CS] = 1;
        if (g->npkts > 1 || g->capture) allowed[TOK_DIR_SC] = 1;
        break;
    case GM_TIME:
        /* a capture window's first packet carries the gap since the previous window's last */
        if (g->npkts == 1 && !g->capture) allowed[TOK_TIME0] = 1;
        else for (int k = 0; k < TOK_NTIME; k++) allowed[TOK_TIME0 + k] = 1;
        break;
    case GM_BYTES:
        /* a packet ends only after its headers: IP, and 20 bytes of TCP or 8 of UDP/ICMP.
         * TCP options may be cut (the writer completes them): header-only captures with a
         * short snaplen cut SYN options, and a model trained on them ends packets there */
        if (gram_full(g)) { allowed[TOK_PKT] = allowed[TOK_EOS] = 1; break; }
        gram_next_byte(g, allowed);
        if (g->nbytes >= g->min_len) allowed[TOK_PKT] = allowed[TOK_EOS] = 1;
        break;
    default: allowed[TOK_EOS] = 1; break;
    }
}

void gen_gram_push(gen_gram *g, int t) {
    g->pos++;
    if (g->fmt == TOKFMT_BPE && g->bpe) { bpe_push(g, t); return; }
    if (g->fmt == TOKFMT_FIELDS) { fields_push(g, t); return; }
    if (g->fmt == TOKFMT_BIGRAMS) { bigrams_push(g, t); return; }
    switch (g->phase) {
    case GM_BOS: g->phase = GM_LABEL; break;
    case GM_LABEL: g->phase = GM_FIRST_PKT; break;
    case GM_FIRST_PKT: g->phase = GM_DIR; g->npkts = 1; break;
    case GM_DIR: g->phase = GM_TIME; g->dir = t == TOK_DIR_SC; break;
    case GM_TIME: g->phase = GM_BYTES; gram_packet_start(g); break;
    case GM_BYTES:
        if (t == TOK_PKT) { g->phase = GM_DIR; g->npkts++; }
        else if (t == TOK_EOS) g->phase = GM_END;
        else if (t < 256) gram_push_byte(g, t);
        break;
    default: break;
    }
}

/* ---- pool of decoded packets ---- */
void gen_pool_init(gen_pool *p, uint64_t seed) { memset(p, 0, sizeof *p); p->rng = seed ^ 0xA5A5A5A5ull; }
void gen_pool_free(gen_pool *p) { free(p->r); free(p->bytes); free(p->gaps); free(p->fhost); free(p->worder); memset(p, 0, sizeof *p); }

int gen_pool_window_order(gen_pool *p, uint32_t win, uint64_t key) {
    if (win >= p->nworder) {
        size_t n = p->nworder ? p->nworder : 64;
        while (n <= win) n *= 2;
        uint64_t *q = realloc(p->worder, n * sizeof *q);
        if (!q) return -1;
        for (size_t i = p->nworder; i < n; i++) q[i] = i;
        p->worder = q; p->nworder = n;
    }
    p->worder[win] = key;
    return 0;
}

int gen_pool_add_seq(gen_pool *p, const tok_t *tok, size_t n, int ended, uint32_t flow_no, int64_t t0_ns) {
    tok_reader rd;
    if (p->capture) t0_ns = 0;   /* windows are laid out in time when written */
    tok_reader_init_fmt(&rd, p->fmt, tok, n, t0_ns);
    if (p->fmt == TOKFMT_BPE) tok_reader_set_bpe(&rd, p->bpe, p->tf);
    uint8_t buf[65536];
    tok_packet pk;
    size_t first = p->n;
    int64_t clock = t0_ns;
    uint32_t k = 0;
    /* replay gaps: a stream of the flow's own, so a flow does not depend on the order
     * in which flows finish */
    uint64_t rng = p->rng + 0x9E3779B97F4A7C15ull * ((uint64_t)flow_no + 1);
    p->st.seqs++;
    while (tok_reader_next(&rd, &pk, buf, sizeof buf) == 1) {
        if (pk.n == 0) { p->st.no_dir++; continue; }  /* a PKT with nothing after it */
        if (p->n == p->cap) {
            size_t c = p->cap ? 2 * p->cap : 1024;
            void *q = realloc(p->r, c * sizeof *p->r);
            if (!q) return -1;
            p->r = q; p->cap = c;
        }
        if (p->nb + pk.n > p->bcap) {
            size_t c = p->bcap ? 2 * p->bcap : 1 << 16;
            while (c < p->nb + pk.n) c *= 2;
            void *q = realloc(p->bytes, c);
            if (!q) return -1;
            p->bytes = q; p->bcap = c;
        }
        int64_t ts = pk.ts_ns;
        if (p->gaps && p->ngaps) {
            /* replay timing: the gap before every packet after the first is drawn from the
             * real capture's within-flow gaps */
            if (k > 0) clock += p->gaps[splitmix64(&rng) % p->ngaps];
            ts = clock;
        }
        if (pk.flags & TOKP_NO_DIR) p->st.no_dir++;
        if (pk.flags & TOKP_NO_TIME) p->st.no_time++;
        struct gen_rec *r = &p->r[p->n++];
        r->ts = ts; r->flow = flow_no; r->seq = k++; r->dir = (uint8_t)pk.dir; r->off = p->nb; r->n = pk.n;
        memcpy(p->bytes + p->nb, buf, pk.n);
        p->nb += pk.n;
    }
    p->st.stray += rd.stray;
    if (!ended && p->n > first) {   /* cut by the context: its last packet may be incomplete */
        p->n--;
        p->nb = p->r[p->n].off;
        p->st.cut_ctx++;
    }
    p->st.packets += p->n - first;
    return (int)(p->n - first);
}

static int cmp_rec(const void *a, const void *b) {
    const struct gen_rec *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    if (x->flow != y->flow) return x->flow < y->flow ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- capture units: flows found by their 5-tuples ---- */
/* Open addressing over byte keys of at most 40 bytes; a table of (key, value) grown at half full. */
typedef struct { uint8_t key[40]; uint32_t val, used; } kv_slot;
typedef struct { kv_slot *s; size_t cap, n; int klen; } kv_table;

static uint64_t kv_hash(const uint8_t *k, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) h = (h ^ k[i]) * 0x100000001B3ull;
    return h ^ h >> 29;
}
/* The slot of key k (used = 0: absent, the caller fills it); NULL out of memory. */
static kv_slot *kv_find(kv_table *t, const uint8_t *k) {
    if (2 * (t->n + 1) > t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 1024;
        kv_slot *ns = calloc(nc, sizeof *ns);
        if (!ns) return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->s[i].used) {
                size_t j = kv_hash(t->s[i].key, t->klen) & (nc - 1);
                while (ns[j].used) j = (j + 1) & (nc - 1);
                ns[j] = t->s[i];
            }
        free(t->s);
        t->s = ns; t->cap = nc;
    }
    size_t j = kv_hash(k, t->klen) & (t->cap - 1);
    while (t->s[j].used && memcmp(t->s[j].key, k, (size_t)t->klen)) j = (j + 1) & (t->cap - 1);
    if (!t->s[j].used) memcpy(t->s[j].key, k, (size_t)t->klen);
    return &t->s[j];
}

/* A generated packet's endpoints: ep[s] = version, address (16 bytes, IPv4 in the first 4),
 * port (TCP/UDP; 0 otherwise), for s = 0 source, 1 destination; *proto. -1 for a packet the
 * trace writer drops whatever its flow (not IPv4/IPv6, another protocol, headers cut short). */
enum { EP_LEN = 19 };
static int pkt_endpoints(const uint8_t *b, uint32_t n, uint8_t ep[2][EP_LEN], uint8_t *proto) {
    if (n < 1) return -1;
    int v = b[0] >> 4;
    uint32_t ihl, al, a0;
    if (v == 4) {
        ihl = (uint32_t)(b[0] & 15) * 4;
        if (n < 20 || ihl < 20 || ihl > n) return -1;
        *proto = b[9]; al = 4; a0 = 12;
    } else if (v == 6) {
        if (n < 40) return -1;
        ihl = 40; *proto = b[6]; al = 16; a0 = 8;
    } else return -1;
    /* what the writer keeps: TCP, UDP, ICMP / ICMPv6 with their fixed headers */
    if (*proto != 6 && *proto != 17 && *proto != (v == 4 ? 1 : 58)) return -1;
    if (n < ihl + (*proto == 6 ? 20 : 8)) return -1;
    int ports = *proto == 6 || *proto == 17;
    memset(ep, 0, 2 * EP_LEN);
    for (int s = 0; s < 2; s++) {
        ep[s][0] = (uint8_t)v;
        memcpy(ep[s] + 1, b + a0 + s * al, al);
        if (ports) memcpy(ep[s] + 17, b + ihl + 2 * s, 2);
    }
    return 0;
}

typedef struct { uint64_t key; uint32_t w; } win_key;
static int cmp_win(const void *a, const void *b) {
    const win_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->w < y->w ? -1 : x->w > y->w;
}

int gen_pool_capture_flows(gen_pool *p) {
    /* windows in order (their keys, else their numbers), each from the previous one's last packet */
    uint32_t nwin = 0;
    for (size_t i = 0; i < p->n; i++) if (p->r[i].flow + 1 > nwin) nwin = p->r[i].flow + 1;
    int64_t *end = calloc((size_t)nwin + 1, sizeof *end), *off = calloc((size_t)nwin + 1, sizeof *off);
    win_key *ord = malloc(((size_t)nwin + 1) * sizeof *ord);
    if (!end || !off || !ord) { free(end); free(off); free(ord); return -1; }
    for (size_t i = 0; i < p->n; i++) if (p->r[i].ts > end[p->r[i].flow]) end[p->r[i].flow] = p->r[i].ts;
    for (uint32_t w = 0; w < nwin; w++) { ord[w].w = w; ord[w].key = w < p->nworder ? p->worder[w] : w; }
    if (nwin) qsort(ord, nwin, sizeof *ord, cmp_win);
    int64_t t = p->capture_t0_ns;
    for (uint32_t i = 0; i < nwin; i++) { off[ord[i].w] = t; t += end[ord[i].w]; }
    for (size_t i = 0; i < p->n; i++) p->r[i].ts += off[p->r[i].flow];
    free(end); free(off); free(ord);
    if (p->n) qsort(p->r, p->n, sizeof *p->r, cmp_rec);
    if (p->max_packets && p->n > p->max_packets) p->n = (size_t)p->max_packets;
    /* flows by canonical 5-tuple (endpoints in byte order), hosts by address */
    kv_table flows = { .klen = 1 + 2 * EP_LEN }, hosts = { .klen = 17 };
    size_t fcap = 0;
    uint32_t nhost[2] = { 0, 0 };
    int rc = 0;
    p->nflows = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        struct gen_rec *r = &p->r[i];
        uint8_t ep[2][EP_LEN], proto, key[40];
        if (pkt_endpoints(p->bytes + r->off, r->n, ep, &proto) != 0) { r->flow = 1u << 24; r->dir = 0; continue; }
        int lo = memcmp(ep[0], ep[1], EP_LEN) <= 0 ? 0 : 1;   /* the source is the lower endpoint */
        key[0] = proto;
        memcpy(key + 1, ep[lo], EP_LEN);
        memcpy(key + 1 + EP_LEN, ep[1 - lo], EP_LEN);
        kv_slot *f = kv_find(&flows, key);
        if (!f) { rc = -1; break; }
        if (!f->used) {
            if (p->nflows >= (1u << 24) - 1) { r->flow = 1u << 24; continue; }   /* the writer's limit: dropped */
            f->used = 1; flows.n++;
            f->val = (uint32_t)p->nflows++ << 1 | (uint32_t)lo;   /* side a = this packet's source */
            if (p->nflows > fcap) {
                size_t nc = fcap ? 2 * fcap : 1024;
                void *q = realloc(p->fhost, nc * sizeof *p->fhost);
                if (!q) { rc = -1; break; }
                p->fhost = q; fcap = nc;
            }
            for (int s = 0; s < 2; s++) {   /* side a's host joins the client pool when new, side b's the server pool */
                kv_slot *h = kv_find(&hosts, ep[s]);
                if (!h) { rc = -1; break; }
                if (!h->used) { h->used = 1; hosts.n++; h->val = TRACE_HOST(s, nhost[s]++); }
                p->fhost[p->nflows - 1][s] = h->val;
            }
        }
        r->flow = f->val >> 1;
        r->dir = (uint8_t)((f->val & 1) != (uint32_t)lo);
    }
    p->nhosts = hosts.n;
    free(flows.s); free(hosts.s);
    return rc;
}

int gen_pool_write(gen_pool *p, const char *path, const trace_cfg *cfg, trace_stats *st) {
    if (p->capture) {
        if (gen_pool_capture_flows(p) != 0) { errno = ENOMEM; return -1; }
    } else if (p->n) qsort(p->r, p->n, sizeof *p->r, cmp_rec);
    trace_writer *w = trace_open(path, cfg);
    if (!w) return -1;
    for (size_t i = 0; i < p->n; i++) {
        const struct gen_rec *r = &p->r[i];
        gen_pkt g = { r->ts, r->flow, r->dir, p->bytes + r->off, r->n, { 0, 0 } };
        if (p->capture && r->flow < p->nflows) { g.host[0] = p->fhost[r->flow][0]; g.host[1] = p->fhost[r->flow][1]; }
        if (trace_add(w, &g) < 0) { trace_abort(w); return -1; }
    }
    return trace_close(w, st);
}

/* ---- the generator ---- */
void gen_defaults(gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->label = -2;
    o->temperature = 1.0f; o->top_p = 1.0f; o->top_k = 0; o->min_p = 0; o->rep_penalty = 1;
    o->seed = 1;
    o->unit = -1;
    o->batch = 16;
    o->n_clients = 16;
    o->window_s = 10.0;
    o->prompt_packets = 2; o->prompt_payload = 64; o->prompt_max_bytes = 192;
}

/* Prompts (and replay gaps) from a real capture, through prep's own tokeniser. */
typedef struct {
    tok_t **seq; size_t *len, n, cap;
    int64_t *gaps; size_t ngaps, gcap;
    int want_gaps, oom;
    int fmt;                  /* token format the flows are built in */
    int eos;                  /* its end token */
} real_flows;

static void on_flow(void *ctx, const flow *f, const tok_t *tok, size_t n) {
    (void)f;
    real_flows *rf = ctx;
    if (!tok || n < 3 || rf->oom) return;
    if (tok[n - 1] == rf->eos) n--;
    if (rf->want_gaps) {
        /* within-flow gaps, as the tokens carry them (bucket resolution, docs/tokens.md) */
        for (size_t i = 0, np = 0; i + 2 < n; i++)
            if (tok[i] == TOK_PKT && tok_is_time(tok[i + 2])) {
                if (np++ == 0) continue;
                if (rf->ngaps == rf->gcap) {
                    size_t c = rf->gcap ? 2 * rf->gcap : 4096;
                    void *q = realloc(rf->gaps, c * sizeof *rf->gaps);
                    if (!q) { rf->oom = 1; return; }
                    rf->gaps = q; rf->gcap = c;
                }
                rf->gaps[rf->ngaps++] = tok_time_value(tok[i + 2] - TOK_TIME0);
            }
        return;
    }
    if (rf->n == rf->cap) {
        size_t c = rf->cap ? 2 * rf->cap : 256;
        void *a = realloc(rf->seq, c * sizeof *rf->seq), *b;
        if (!a) { rf->oom = 1; return; }
        rf->seq = a;
        b = realloc(rf->len, c * sizeof *rf->len);
        if (!b) { rf->oom = 1; return; }
        rf->len = b; rf->cap = c;
    }
    tok_t *s = malloc(n * sizeof *s);
    if (!s) { rf->oom = 1; return; }
    memcpy(s, tok, n * sizeof *s);
    rf->seq[rf->n] = s; rf->len[rf->n] = n; rf->n++;
}

static void real_flows_free(real_flows *rf) {
    for (size_t i = 0; i < rf->n; i++) free(rf->seq[i]);
    free(rf->seq); free(rf->len); free(rf->gaps);
    memset(rf, 0, sizeof *rf);
}

static int read_real(gen_opts *o, const char *path, const tok_format *tf, bpe *b, int max_pkts, int want_gaps, real_flows *rf) {
    prep_cfg pc;
    prep_cfg_default(&pc);
    pc.tokens = tf->id;
    pc.bpe = b;
    rf->fmt = tf->id;
    rf->eos = tf->eos;
    pc.max_pkts = max_pkts;
    pc.payload = o->prompt_payload;
    pc.max_bytes = o->prompt_max_bytes;
    pc.hash_inputs = 0;
    rf->want_gaps = want_gaps;
    char e[512] = "";
    int rc = prep_each_flow(&pc, path, 0, on_flow, rf, NULL, e, sizeof e);
    if (rc < 0) return OPT_FAIL(o, "%s: %s", path, e);
    /* prompts and timing taken from part of a capture would pass for the whole: refuse */
    if (rc > 0) return OPT_FAIL(o, "%s (a prompt or timing capture must be read to the end)", e);
    if (rf->oom) return OPT_FAIL(o, "out of memory reading %s", path);
    return 0;
}

/* Per-slot decoding state: each of the B slots holds one sequence (flow) at a time. */
typedef struct {
    sampler smp;
    gen_gram gram;
    tok_t *q;                /* its tokens (T + 1) */
    uint8_t *seen;              /* V: tokens in q so far (the repetition penalty) */
    int len;                    /* tokens so far */
    long flow;                  /* flow number */
    const tok_t *forced;     /* prompt (tokens 2.. are forced) */
    int forced_len;
    int prefill;                /* q[0..len) goes into the model by prefill before its next step */
    /* capture windows carrying the state (gen_opts.carried): the slot is one stream of windows */
    int stream;                 /* its number (the slot), -1 when windows start from a reset state */
    long k;                     /* windows of the stream so far */
    int carry_tok;              /* the last token of its previous window, fed before the next window's
                                   <bos> so the state has seen every token of the stream (-1: none) */
} gen_slot;

static int B_alloc(const gen_opts *o) { return o->batch > 0 ? o->batch : 1; }

/* A slot's sequence is over (EOS, the context, or --tokens): decode it into the pool. */
static int finish_seq(gen_opts *o, gen_pool *pool, gen_slot *z, int ended) {
    size_t n = (size_t)z->len;
    /* order-free checksum of every flow's tokens: the same flows give the same value in any batch */
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)z->flow;
    for (size_t i = 0; i < n; i++) h = (h ^ z->q[i]) * 0x100000001B3ull;
    o->tok_hash += h;
    if (getenv("PKTLM_GEN_DUMP")) {   /* debugging: the sampled tokens */
        char nb[32];
        fprintf(stderr, "flow %ld: ", z->flow);
        for (size_t i = 0; i < n; i++) fprintf(stderr, "%s ", tokfmt_name(pool->tf ? pool->tf : tokfmt_get(pool->fmt), z->q[i], nb));
        fputc('\n', stderr);
    }
    /* the trace starts 2024-01-01 00:00:00 UTC (fixed: reproducible files); a flow's start
     * within the window comes from the seed and its number, like its tokens */
    uint64_t s = (o->seed ^ 0x243F6A8885A308D3ull) + 0x9E3779B97F4A7C15ull * (uint64_t)(z->flow + 1);
    int64_t start = 1704067200LL * 1000000000LL + (int64_t)(rng_uniform(&s) * o->window_s * 1e9);
    z->len = 0;
    if (o->on_seq) o->on_seq(o->on_seq_ctx, z->flow, z->stream, z->q, n);
    if (z->stream >= 0) {   /* the stream goes on: its next window follows this one */
        if (n) z->carry_tok = z->q[n - 1];
        if (gen_pool_window_order(pool, (uint32_t)z->flow, (uint64_t)z->stream << 32 | (uint64_t)z->k) != 0)
            return OPT_FAIL(o, "out of memory");
        z->k++;
    }
    if (gen_pool_add_seq(pool, z->q, n, ended, (uint32_t)z->flow, start) < 0) return OPT_FAIL(o, "out of memory");
    return 0;
}

uint64_t gen_stream_seed(uint64_t seed, int b, long k) {
    uint64_t s = (seed ^ 0x6A09E667F3BCC909ull) * 0x9E3779B97F4A7C15ull + ((uint64_t)b << 32 | (uint64_t)k);
    return splitmix64(&s);
}

/* The decoding loop's state, shared by its serial parts (loop_prepare, loop_consume: thread
 * 0 only) and the step between them. */
typedef struct {
    gen_opts *o;
    gen_pool *pool;
    gen_slot *sl;
    int B, T, V, label_lo, label_hi;
    const tok_format *tf;         /* the model's token format */
    const real_flows *prompts;
    long next_flow;
    int nactive, err;
    int *in, *rslot, *rpos;       /* the rows of the next step */
    float *logits;
    int *pf, npf;                 /* slots whose prompt is prefilled before the next step */
    float *pf_logits;             /* (B, V): their logits */
    uint8_t *mask;
    progress *pg;
    model_run *run;               /* the backbone's slots: reset when a slot takes a new flow */
    int capture;                  /* capture units: a sequence is a window of the capture */
    int label_fixed;              /* capture: every window takes window 0's label (sampled or given) */
    int carry;                    /* capture: slot b is stream b, its state carried from window to window */
    const gen_bpe *gb;            /* bpe: the tokens' text */
} gen_loop;

/* Continuous batching: a slot whose sequence ended takes the next flow at once, so a step
 * runs only live sequences. A flow's tokens depend on the seed and its number only (its own
 * sampler stream; the rows of the fused step do not interact). Starts flows in free slots
 * while the budget allows and lists the rows of the next step: their number, 0 when all is
 * done, -1 after an error. */
static int loop_prepare(gen_loop *lp) {
    gen_opts *o = lp->o;
    if (lp->err) return -1;
    for (int b = 0; b < lp->B; b++) {
        if (lp->sl[b].len) continue;
        if (o->flows > 0 && lp->next_flow >= o->flows) break;
        if (o->packets > 0 && (long)lp->pool->st.packets >= o->packets) break;
        if (o->tokens > 0 && (long)o->sampled >= o->tokens) break;
        /* one capture has one label: without --label, window 0 samples it before the others start */
        if (lp->capture && !lp->label_fixed && lp->next_flow > 0) break;
        gen_slot *z = &lp->sl[b];
        /* a window's sampler stream: its number, or (stream, window of the stream) when the state
         * is carried, so a stream's windows do not depend on --batch either */
        uint64_t s = o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)lp->next_flow, seed = splitmix64(&s);
        if (lp->carry) {
            z->stream = b;
            seed = gen_stream_seed(o->seed, b, z->k);
            if (z->k == 0) model_run_reset(lp->run, b);
        } else {
            z->stream = -1;
            model_run_reset(lp->run, b);
        }
        sampler_free(&z->smp);
        if (sampler_init(&z->smp, lp->V, o->temperature, o->top_k, o->top_p, seed) != 0) {
            OPT_FAIL(o, "out of memory");
            return lp->err = -1;
        }
        z->smp.min_p = o->min_p;
        z->smp.rep_penalty = o->rep_penalty;
        memset(z->seen, 0, (size_t)lp->V);
        z->seen[lp->tf->bos] = 1;
        gen_gram_init(&z->gram);
        z->gram.raw_tcp_flags = o->raw_tcp_flags;
        z->gram.strict_headers = o->strict_headers;
        z->gram.fmt = lp->tf->id;
        z->gram.bpe = lp->gb;
        z->gram.capture = lp->capture;
        z->flow = lp->next_flow++;
        z->q[0] = lp->tf->bos;
        z->len = 1;
        gen_gram_push(&z->gram, lp->tf->bos);
        z->forced = NULL; z->forced_len = 0; z->prefill = 0;
        if (lp->prompts->n) {
            size_t k = (size_t)z->flow % lp->prompts->n;
            z->forced = lp->prompts->seq[k];
            z->forced_len = (int)(lp->prompts->len[k] < (size_t)lp->T ? lp->prompts->len[k] : (size_t)lp->T);
        }
        lp->nactive++;
    }
    int n = 0;
    lp->npf = 0;
    for (int b = 0; b < lp->B; b++)
        if (lp->sl[b].prefill) {
            /* the prompt from position 0 (bos and label again: the slot restarts) */
            model_run_reset(lp->run, b);
            lp->pf[lp->npf++] = b;
        } else if (lp->sl[b].len) {
            /* a carried stream's previous window ended with a token the state has not seen yet:
             * this step feeds it (its logits unused), the next one the new window's <bos> */
            const int c = lp->sl[b].carry_tok;
            lp->rslot[n] = b; lp->in[n] = c >= 0 ? c : lp->sl[b].q[lp->sl[b].len - 1]; lp->rpos[n] = lp->sl[b].len - 1;
            n++;
        }
    return n;
}

/* Append token t to slot b's sequence; the sequence ends at <eos> or the context. 0, or -1
 * after an error (lp->err set). */
static int push_token(gen_loop *lp, int b, int t) {
    gen_slot *z = &lp->sl[b];
    z->q[z->len++] = (tok_t)t;
    z->seen[t] = 1;
    gen_gram_push(&z->gram, t);
    if (t == lp->tf->eos || z->len >= lp->T) {
        z->prefill = 0;
        if (finish_seq(lp->o, lp->pool, z, t == lp->tf->eos) != 0) return lp->err = -1;
        lp->nactive--;
    }
    return 0;
}

/* The next token of slot b from its logits (a forced prompt token, or sampled under the
 * grammar mask). A prompt's tokens after the label (the label stays the user's or the
 * model's) are forced and need no logits: they are appended at once, and the slot's next
 * pass through the model is one prefill of the whole prompt (positions 0..len-1: a batched
 * forward, the same bits as stepping it, model.h) instead of one step per token. */
static void consume_one(gen_loop *lp, int b, const float *logits, int *stop) {
    gen_opts *o = lp->o;
    gen_slot *z = &lp->sl[b];
    int t;
    z->prefill = 0;
    if (z->len >= 2 && z->len < z->forced_len) t = z->forced[z->len];
    else {
        gen_gram_mask(&z->gram, lp->mask, lp->V, lp->label_lo, lp->label_hi);
        if (o->full) lp->mask[lp->tf->eos] = 0;
        t = sampler_sample_seen(&z->smp, logits, lp->mask, z->seen);
        if (t < 0) t = lp->tf->eos;
        o->sampled++;
        if (o->tokens > 0 && (long)o->sampled >= o->tokens) *stop = 1;
    }
    if (push_token(lp, b, t) != 0 || !z->len) return;
    if (lp->capture && !lp->label_fixed && z->len == 2) {   /* window 0's label is the capture's */
        lp->label_lo = t; lp->label_hi = t + 1; lp->label_fixed = 1;
    }
    if (z->len == 2 && z->forced_len > 2) {
        while (z->len && z->len < z->forced_len)
            if (push_token(lp, b, z->forced[z->len]) != 0) return;
        z->prefill = z->len > 0;
    }
}

/* After a step: the next token of each prefilled slot and of each row, and the sequences
 * that ended go to the pool. */
static void loop_consume(gen_loop *lp, int n) {
    gen_opts *o = lp->o;
    int stop = 0;
    o->stepped += n;
    for (int p = 0; p < lp->npf && !lp->err; p++) {
        o->stepped += lp->sl[lp->pf[p]].len;
        consume_one(lp, lp->pf[p], lp->pf_logits + (size_t)p * lp->V, &stop);
    }
    for (int r = 0; r < n && !lp->err; r++) {
        gen_slot *z = &lp->sl[lp->rslot[r]];
        if (z->carry_tok >= 0) { z->carry_tok = -1; continue; }   /* the carried token is in the state now */
        consume_one(lp, lp->rslot[r], lp->logits + (size_t)r * lp->V, &stop);
    }
    if (lp->err) return;
    if (stop)   /* --tokens reached: the sequences still running end here, cut */
        for (int b = 0; b < lp->B; b++)
            if (lp->sl[b].len) {
                lp->sl[b].prefill = 0;
                if (finish_seq(o, lp->pool, &lp->sl[b], 0) != 0) { lp->err = -1; return; }
                lp->nactive--;
            }
    char extra[96];
    snprintf(extra, sizeof extra, "%s %ld  packets %llu", lp->capture ? "windows" : "flows", lp->next_flow - lp->nactive,
             (unsigned long long)lp->pool->st.packets);
    progress_update(lp->pg, (double)o->sampled, 0, extra);
}

int gen_run(gen_opts *o) {
    model m = { 0 };
    model_vocab voc;
    char err[512];
    int rc = -1;
    float *logits = NULL, *pf_logits = NULL;
    tok_t *seqs = NULL;
    int *in = NULL, *rslot = NULL, *rpos = NULL, *pf = NULL;
    uint8_t *mask = NULL, *seen = NULL;
    gen_slot *sl = NULL;
    real_flows prompts = { 0 }, replay = { 0 };
    gen_pool pool;
    gen_pool_init(&pool, o->seed);
    bpe *bp = NULL;
    tok_format tfb;
    gen_bpe gb;
    memset(&gb, 0, sizeof gb);
    model_run run;
    memset(&run, 0, sizeof run);

    if (o->threads > 0) nn_set_threads(o->threads);
    o->sampled = o->stepped = 0;   /* results of this run (o may be a copy of another's) */
    o->capture_flows = o->capture_hosts = 0;
    o->carried = 0;
    if (!o->model_path || !o->out_path) return OPT_FAIL(o, "need a model (--model) and an output (-o)");
    if (ckpt_load_model(o->model_path, &m, &voc, NULL, 0, err, sizeof err) != 0) return OPT_FAIL(o, "%s", err);
    const int V = m.cfg.vocab, B = o->batch > 0 ? o->batch : 1;
    const int T = o->max_len > 0 && o->max_len < m.cfg.ctx ? o->max_len : m.cfg.ctx;
    const tok_format *tf = tokfmt_get(voc.tok_format);
    if (!tf) { OPT_FAIL(o, "%s: unknown token format %d (a newer pktlm?)", o->model_path, voc.tok_format); goto done; }
    if (tf->id == TOKFMT_BPE) {   /* the grammar and the decoding need the tokenizer's text of every id */
        if (o->tokenizer) bp = bpe_load(o->tokenizer, err, sizeof err);
        else if (voc.data_dir[0]) bp = corpus_bpe(voc.data_dir, voc.tok_hash, err, sizeof err);
        else snprintf(err, sizeof err, "%s speaks a tokenizer's byte-level BPE and records no training corpus: give --tokenizer FILE",
                      o->model_path);
        if (bp && bpe_hash(bp) != voc.tok_hash) {
            snprintf(err, sizeof err, "%s is another tokenizer than the one %s was trained with (hash %016llx, the model's %016llx)",
                     o->tokenizer, o->model_path, (unsigned long long)bpe_hash(bp), (unsigned long long)voc.tok_hash);
            bpe_free(bp); bp = NULL;
        }
        if (!bp) { OPT_FAIL(o, "%s%s", err, o->tokenizer || !voc.data_dir[0] ? "" : " (or give --tokenizer FILE)"); goto done; }
        tokfmt_bpe(&tfb, bpe_n_ids(bp), bpe_added_id(bp, "<|endoftext|>"), bpe_text_id(bp, "\n"));
        tf = &tfb;
        if (tfb.eos < 0 || tfb.pkt < 0 || tfb.unlabelled >= V || tfb.eos != voc.eos_id) {
            OPT_FAIL(o, "%s: not a model of a --tokens bpe corpus (no <unlabelled> id, or <|endoftext|> %d is not its %d): "
                        "fine-tune it on one first (`pktlm finetune --task generate`)", o->model_path, tfb.eos, voc.eos_id);
            goto done;
        }
        if (gen_bpe_init(&gb, bp, tf) != 0) { OPT_FAIL(o, "out of memory"); goto done; }
        pool.bpe = bp; pool.tf = tf;
    }
    pool.fmt = tf->id;
    const int L0 = tf->label_base;
    int label_lo = L0, label_hi = V;   /* label tokens this model knows */
    if (tf->id == TOKFMT_BPE && L0 + voc.n_labels < V) label_hi = L0 + voc.n_labels;   /* (an imported vocabulary may be padded past them) */
    if (label_hi <= L0) { label_lo = tf->unlabelled; label_hi = tf->unlabelled + 1; }
    if (o->label >= 0) {
        if (L0 + o->label >= label_hi || label_lo < L0) {
            OPT_FAIL(o, "label %d: the model knows %d labels", o->label, label_lo < L0 ? 0 : label_hi - L0);
            goto done;
        }
        label_lo = L0 + o->label; label_hi = label_lo + 1;
    } else if (o->label == -1) { label_lo = tf->unlabelled; label_hi = label_lo + 1; }
    /* what a sequence is: the model's training unit unless told (older checkpoints: flows) */
    o->capture = (o->unit >= 0 ? o->unit : voc.unit) == PREP_UNIT_CAPTURE;
    if (o->capture) {
        const char *no = o->flows > 0 ? "--flows (a capture-unit model writes one capture: give --packets or --tokens)"
                       : o->prompt_pcap ? "--prompt-pcap (prompts are flows)"
                       : o->timing == GEN_TIMING_REPLAY ? "--timing replay (it draws within-flow gaps)"
                       : tf->id != TOKFMT_BYTES ? "a token format other than bytes" : NULL;
        if (no) { OPT_FAIL(o, "%s: a model of capture windows does not take %s", o->model_path, no); goto done; }
        if (o->packets <= 0 && o->tokens <= 0) o->packets = 1000;
        /* a recurrent backbone continues the capture: one sequence per slot, the windows of a
         * stream one after another (attention backbones: every window from a reset state) */
        o->carried = !o->reset_windows && m.ops->recurrent;
        pool.capture = 1;
        pool.capture_t0_ns = 1704067200LL * 1000000000LL;   /* as flows: 2024-01-01 00:00:00 UTC */
        pool.max_packets = o->packets > 0 ? (uint64_t)o->packets : 0;
    }
    if (o->flows <= 0 && o->packets <= 0 && o->tokens <= 0) o->flows = 100;

    if (o->prompt_pcap) {
        if (read_real(o, o->prompt_pcap, tf, bp, o->prompt_packets, 0, &prompts) != 0) goto done;
        if (!prompts.n) { OPT_FAIL(o, "%s: no flows to use as prompts", o->prompt_pcap); goto done; }
        o->nprompts = prompts.n;
    }
    if (o->timing == GEN_TIMING_REPLAY) {
        if (!o->timing_from) { OPT_FAIL(o, "--timing replay needs --timing-from REAL.pcap"); goto done; }
        if (read_real(o, o->timing_from, tokfmt_get(TOKFMT_BYTES), NULL, 1 << 20, 1, &replay) != 0) goto done;
        if (!replay.ngaps) { OPT_FAIL(o, "%s: no flow with two packets to take gaps from", o->timing_from); goto done; }
        pool.gaps = replay.gaps; pool.ngaps = replay.ngaps;
        replay.gaps = NULL;
    }

    /* the backbone's decoding state: one slot per sequence decoded at once */
    if (model_run_init(&run, &m, B, o->bf16 ? NN_BF16 : NN_FP32, 0, err, sizeof err) != 0) {
        OPT_FAIL(o, "%s: %s", o->model_path, err);
        goto done;
    }
    logits = malloc((size_t)B * V * sizeof *logits);
    pf_logits = malloc((size_t)B * V * sizeof *pf_logits);
    pf = malloc((size_t)B * sizeof *pf);
    seqs = malloc((size_t)B * (T + 1) * sizeof *seqs);
    in = malloc((size_t)B * sizeof *in);
    rslot = malloc((size_t)B * sizeof *rslot);
    rpos = malloc((size_t)B * sizeof *rpos);
    mask = malloc((size_t)V);
    seen = malloc((size_t)B * V);
    sl = calloc((size_t)B, sizeof *sl);
    if (!logits || !pf_logits || !pf || !seqs || !in || !rslot || !rpos || !mask || !seen || !sl) { OPT_FAIL(o, "out of memory for batch %d x context %d", B, T); goto done; }
    for (int b = 0; b < B; b++) {
        sl[b].q = seqs + (size_t)b * (T + 1);
        sl[b].seen = seen + (size_t)b * V;
        sl[b].len = 0;
        sl[b].stream = -1;
        sl[b].carry_tok = -1;
    }

    progress pg;
    progress_init(&pg, "generating", "tok", 1);
    double t0 = now_sec();
    o->tok_hash = 0;
    gen_loop lp = { o, &pool, sl, B, T, V, label_lo, label_hi, tf, &prompts, 0, 0, 0, in, rslot, rpos, logits, pf, 0, pf_logits,
                    mask, &pg, &run, o->capture, label_hi == label_lo + 1, o->carried, tf->id == TOKFMT_BPE ? &gb : NULL };
    /* One parallel region for the whole run: thread 0 samples between steps while the others
     * wait at the team's barrier (spinning briefly, then sleeping), and every thread runs the
     * backbone's step; no thread pool is woken per token. */
    nn_barrier sbar;
    int nrows = 0;
    #pragma omp parallel num_threads(run.nthreads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        #pragma omp single
        {
            nn_barrier_init(&sbar, nt, MODEL_RUN_SPIN_NS, MODEL_RUN_HOLD_NS);
            model_run_team(&run, nt);
        }
        for (;;) {
            if (t == 0) nrows = loop_prepare(&lp);
            nn_barrier_wait(&sbar);
            const int n = nrows;
            if (n < 0 || (n == 0 && lp.npf == 0)) break;
            for (int p = 0; p < lp.npf; p++)
                model_run_prefill(&run, t, nt, pf[p], sl[pf[p]].q, sl[pf[p]].len, pf_logits + (size_t)p * V);
            if (n) model_run_step(&run, t, nt, n, rslot, in, rpos, logits);
            if (t == 0) loop_consume(&lp, n);
        }
    }
    if (lp.err) goto done;
    if (getenv("PKTLM_BARRIER_STATS"))
        fprintf(stderr, "barrier: step %llu rounds %llu timeouts\n", (unsigned long long)run.bar.rounds,
                (unsigned long long)run.bar.timeouts);
    progress_end(&pg);
    o->secs = now_sec() - t0;
    o->ds = pool.st;

    trace_cfg tc;
    trace_cfg_default(&tc);
    tc.pcapng = o->pcapng;
    tc.link = o->raw_ip ? TRACE_RAW : TRACE_ETHERNET;
    tc.n_clients = o->n_clients > 0 ? (uint32_t)o->n_clients : 1;
    tc.seed = o->seed;
    if (gen_pool_write(&pool, o->out_path, &tc, &o->ts) != 0) { OPT_FAIL(o, "%s: cannot write: %s", o->out_path, strerror(errno)); goto done; }
    o->capture_flows = pool.nflows;
    o->capture_hosts = pool.nhosts;
    rc = 0;
done:
    if (sl) for (int b = 0; b < B_alloc(o); b++) sampler_free(&sl[b].smp);
    free(sl);
    model_run_free(&run);
    free(logits); free(pf_logits); free(pf); free(seqs); free(in); free(rslot); free(rpos); free(mask); free(seen);
    real_flows_free(&prompts); real_flows_free(&replay);
    gen_pool_free(&pool);
    gen_bpe_free(&gb);
    bpe_free(bp);
    model_free(&m);
    return rc;
}
