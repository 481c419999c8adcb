#include "corpus/anon.h"
#include "util/util.h"
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <arpa/inet.h>

void anon_cfg_default(anon_cfg *c) {
    c->addr = ANON_ADDR_PREFIX; c->ids = 1; c->mask_ports = 0; c->csum = ANON_CSUM_UPDATE; c->scope = ANON_SCOPE_FLOW;
}

static inline uint64_t mix(uint64_t x) { uint64_t s = x; return splitmix64(&s); }

uint64_t anon_key(uint64_t seed, const char *secret, uint32_t file_index) {
    uint64_t h = mix(seed ^ 0x616e6f6e6b6579ull);   /* "anonkey" */
    for (const char *p = secret ? secret : ""; *p; p++) h = mix(h ^ (uint8_t)*p);
    return mix(h ^ ((uint64_t)file_index << 32 | 0x9e37u));
}

void anon_init(anon_ctx *a, const anon_cfg *cfg, uint64_t key) {
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    a->key = key;
}

void anon_flow_init(const anon_ctx *a, anon_flow *f, uint64_t flow_no) {
    uint64_t s = a->key ^ mix(flow_no + 0x666c6f77ull);
    uint64_t r1 = splitmix64(&s), r2 = splitmix64(&s), r3 = splitmix64(&s);
    f->seq[0] = (uint32_t)r1; f->seq[1] = (uint32_t)(r1 >> 32);
    f->ts[0] = (uint32_t)r2; f->ts[1] = (uint32_t)(r2 >> 32);
    f->ipid[0] = (uint16_t)r3; f->ipid[1] = (uint16_t)(r3 >> 16); f->echo_id = (uint16_t)(r3 >> 32);
    uint64_t r4 = splitmix64(&s);
    f->flowlabel[0] = (uint32_t)r4 & 0xfffff; f->flowlabel[1] = (uint32_t)(r4 >> 32) & 0xfffff;
    f->addr_key = a->cfg.scope == ANON_SCOPE_CAPTURE ? a->key : splitmix64(&s);
}

/* Addresses that name no host: kept so that broadcast/multicast semantics survive. */
static int special(int ver, const uint8_t *a) {
    if (ver == 4) {
        uint32_t v = rd32be(a);
        return v == 0 || v == 0xffffffffu || a[0] == 127 || (a[0] & 0xf0) == 0xe0;
    }
    if (a[0] == 0xff) return 1;   /* multicast */
    for (int i = 0; i < 15; i++) if (a[i]) return 0;
    return a[15] <= 1;            /* :: and ::1 */
}

/* Prefix-preserving: output bit i = input bit i XOR f(key, i, input bits 0..i-1). Two
 * addresses that agree on their first k bits get the same first k pad bits, and differ
 * at bit k in the output exactly as in the input: a bijection that keeps prefixes. */
static void map_prefix(uint64_t key, int nbits, const uint8_t *in, uint8_t *out) {
    uint64_t hi = 0, lo = 0;   /* input prefix so far, as a 128-bit number */
    memcpy(out, in, (size_t)nbits / 8);
    for (int i = 0; i < nbits; i++) {
        int bit = in[i >> 3] >> (7 - (i & 7)) & 1;
        /* one keyed mix per bit: the bit position, the prefix (hi only past 64 bits) */
        uint64_t h = mix(key ^ ((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull) ^ lo ^ (hi * 0xC2B2AE3D27D4EB4Full));
        if (h & 1) out[i >> 3] ^= (uint8_t)(0x80 >> (i & 7));
        hi = hi << 1 | lo >> 63;
        lo = lo << 1 | (uint64_t)bit;
    }
}

/* Random: a 4-round Feistel permutation on the address bits (bijective, no table). */
static void map_random(uint64_t key, int ver, const uint8_t *in, uint8_t *out) {
    if (ver == 4) {
        uint32_t l = rd16be(in), r = rd16be(in + 2);
        for (int k = 0; k < 4; k++) { uint32_t t = r; r = l ^ ((uint32_t)mix(key + (uint64_t)k * 77 + r) & 0xffff); l = t; }
        wr16be(out, (uint16_t)l); wr16be(out + 2, (uint16_t)r);
        return;
    }
    uint64_t l = 0, r = 0;
    for (int i = 0; i < 8; i++) { l = l << 8 | in[i]; r = r << 8 | in[8 + i]; }
    for (int k = 0; k < 4; k++) { uint64_t t = r; r = l ^ mix(mix(key + (uint64_t)k * 77) ^ r); l = t; }
    for (int i = 7; i >= 0; i--) { out[i] = (uint8_t)l; out[8 + i] = (uint8_t)r; l >>= 8; r >>= 8; }
}

void anon_addr(anon_ctx *a, uint64_t key, int ver, const uint8_t *in, uint8_t *out) {
    int len = ver == 4 ? 4 : 16;
    if (a->cfg.addr == ANON_ADDR_KEEP || special(ver, in)) { memmove(out, in, (size_t)len); return; }
    uint64_t h = 14695981039346656037ull ^ key;
    for (int i = 0; i < len; i++) h = (h ^ in[i]) * 1099511628211ull;
    size_t slot = (size_t)(h >> 20) % ANON_CACHE;
    if (a->cache[slot].ver == ver && a->cache[slot].key == key && !memcmp(a->cache[slot].in, in, (size_t)len)) {
        memcpy(out, a->cache[slot].out, (size_t)len);
        return;
    }
    uint8_t o[16];
    if (a->cfg.addr == ANON_ADDR_PREFIX) map_prefix(key, len * 8, in, o);
    else map_random(key, ver, in, o);
    a->cache[slot].ver = (uint8_t)ver;
    a->cache[slot].key = key;
    memcpy(a->cache[slot].in, in, (size_t)len);
    memcpy(a->cache[slot].out, o, (size_t)len);
    memcpy(out, o, (size_t)len);
}

/* ---- payload dictionary ---- */

static uint64_t dict_key(int kind, const uint8_t *p) {
    uint64_t v = (uint64_t)kind << 56;
    if (kind == 4) v |= rd32be(p);
    else if (kind == 3) v |= (uint64_t)p[0] << 16 | (uint64_t)p[1] << 8 | p[2];
    else if (kind == 6) { v |= (uint64_t)rd16be(p) << 32 | rd32be(p + 2); }
    else { uint64_t h = 1469598103934665603ull; for (int i = 0; i < 16; i++) h = (h ^ p[i]) * 1099511628211ull; v |= h >> 8; }
    return mix(v) | 1;   /* never 0 */
}

static int dict_has(const anon_dict *d, int kind, const uint8_t *p) {
    if (!d->cap) return 0;
    uint64_t k = dict_key(kind, p);
    for (size_t h = k & (d->cap - 1); d->slot[h]; h = (h + 1) & (d->cap - 1))
        if (d->slot[h] == k) return 1;
    return 0;
}

static void dict_add(anon_dict *d, int kind, const uint8_t *p) {
    if (d->n * 2 >= d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 1024;
        uint64_t *ns = calloc(nc, sizeof *ns);
        if (!ns) return;
        for (size_t i = 0; i < d->cap; i++)
            if (d->slot[i]) { size_t h = d->slot[i] & (nc - 1); while (ns[h]) h = (h + 1) & (nc - 1); ns[h] = d->slot[i]; }
        free(d->slot);
        d->slot = ns; d->cap = nc;
    }
    uint64_t k = dict_key(kind, p);
    size_t h = k & (d->cap - 1);
    for (; d->slot[h]; h = (h + 1) & (d->cap - 1)) if (d->slot[h] == k) return;
    d->slot[h] = k;
    d->n++;
    if (kind == 3) return;   /* looked up only by the text scan */
    uint8_t *pre = kind == 4 ? d->pre4 : kind == 6 ? d->pre_mac : d->pre6;
    unsigned b = rd16be(p);
    pre[b >> 3] |= (uint8_t)(1u << (b & 7));
}

void anon_dict_clear(anon_dict *d) {
    if (d->slot) memset(d->slot, 0, d->cap * sizeof *d->slot);
    d->n = 0;
    memset(d->pre4, 0, sizeof d->pre4); memset(d->pre6, 0, sizeof d->pre6); memset(d->pre_mac, 0, sizeof d->pre_mac);
}
void anon_dict_add_ip(anon_dict *d, int ver, const uint8_t *a) {
    if ((ver == 4 || ver == 6) && !special(ver, a)) dict_add(d, ver == 4 ? 4 : 16, a);
}
void anon_dict_add_mac(anon_dict *d, const uint8_t *m) {
    if (m[0] & 1) return;                               /* group address */
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) return;
    dict_add(d, 6, m);
    dict_add(d, 3, m + 3);   /* the NIC-specific half, as device names quote it */
}
void anon_dict_free(anon_dict *d) { free(d->slot); memset(d, 0, sizeof *d); }

static inline int pre_has(const uint8_t *pre, const uint8_t *p) { unsigned b = rd16be(p); return pre[b >> 3] >> (b & 7) & 1; }

/* Rewrite dictionary hits in p[0..n): addresses mapped with key, MACs zeroed. */
static void scrub(anon_ctx *a, uint64_t key, uint8_t *p, uint32_t n) {
    const anon_dict *d = a->dict;
    for (uint32_t i = 0; i + 4 <= n;) {
        if (i + 16 <= n && pre_has(d->pre6, p + i) && dict_has(d, 16, p + i)) {
            anon_addr(a, key, 6, p + i, p + i); a->scrubbed_ip++; i += 16; continue;
        }
        if (i + 6 <= n && pre_has(d->pre_mac, p + i) && dict_has(d, 6, p + i)) {
            memset(p + i, 0, 6); a->scrubbed_mac++; i += 6; continue;
        }
        if (pre_has(d->pre4, p + i) && dict_has(d, 4, p + i)) {
            anon_addr(a, key, 4, p + i, p + i); a->scrubbed_ip++; i += 4; continue;
        }
        i++;
    }
}

/* ---- addresses written as text ---- */

static int hexval(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }
static int isdig(int c) { return c >= '0' && c <= '9'; }

/* Write text t (length L) over p[at, at+w) of p[0..n): the same bytes when L == w; a longer
 * text pushes what follows to the right, and the last L - w bytes of the window fall out of
 * it (the window keeps its length: packets cannot grow). */
static void put_text(uint8_t *p, uint32_t n, uint32_t at, uint32_t w, const char *t, uint32_t L) {
    if (L > w && at + L < n) memmove(p + at + L, p + at + w, n - at - L);
    uint32_t m = at + L <= n ? L : n - at;
    memcpy(p + at, t, m);
}

/* Decimal octets separated by dots, each left-padded with zeros until the text is w long
 * (as long as 3 digits per octet allow). Returns the length. */
static uint32_t v4_text(const uint8_t *a, uint32_t w, char *out) {
    int dig[4], len = 3;
    for (int i = 0; i < 4; i++) { dig[i] = a[i] >= 100 ? 3 : a[i] >= 10 ? 2 : 1; len += dig[i]; }
    for (int i = 0; len < (int)w && i < 12; i++) if (dig[i % 4] < 3) { dig[i % 4]++; len++; }
    char *o = out;
    for (int i = 0; i < 4; i++) o += sprintf(o, i ? ".%0*u" : "%0*u", dig[i], a[i]);
    return (uint32_t)(o - out);
}
/* Eight hexadecimal groups, none omitted ("::" would hide how many), each left-padded with
 * zeros until the text is w long. */
static uint32_t v6_text(const uint8_t *a, uint32_t w, char *out) {
    int dig[8], len = 7;
    for (int i = 0; i < 8; i++) { unsigned g = rd16be(a + 2 * i); dig[i] = g >= 0x1000 ? 4 : g >= 0x100 ? 3 : g >= 0x10 ? 2 : 1; len += dig[i]; }
    for (int i = 0; len < (int)w && i < 32; i++) if (dig[i % 8] < 4) { dig[i % 8]++; len++; }
    char *o = out;
    for (int i = 0; i < 8; i++) o += sprintf(o, i ? ":%0*x" : "%0*x", dig[i], rd16be(a + 2 * i));
    return (uint32_t)(o - out);
}

/* k dot-separated decimal numbers of 1-3 digits, each <= 255, from p[i]; their values in a
 * (may be NULL). Returns the length, 0 when they are not there. */
static uint32_t dotted(const uint8_t *p, uint32_t n, uint32_t i, int k, uint8_t *a) {
    uint32_t j = i;
    for (int c = 0; c < k; c++) {
        if (c) { if (j >= n || p[j] != '.') return 0; j++; }
        unsigned v = 0, d = 0;
        while (j < n && isdig(p[j]) && d < 4) { v = v * 10 + (unsigned)(p[j] - '0'); j++; d++; }
        if (d == 0 || d > 3 || v > 255) return 0;
        if (a) a[c] = (uint8_t)v;
    }
    return j - i;
}
static int more_dotted(const uint8_t *p, uint32_t n, uint32_t j) { return j < n && (isdig(p[j]) || (p[j] == '.' && j + 1 < n && isdig(p[j + 1]))); }

/* Dotted quad at p[i..]. Returns its length (0: none). A longer run of numbers and dots
 * (1.2.3.4.5: versions, OIDs) is not an address, except an ONC RPC universal address
 * "h1.h2.h3.h4.p1.p2" (rpcbind, NFS): its first four numbers are. */
static uint32_t parse_v4(const uint8_t *p, uint32_t n, uint32_t i, uint8_t *a) {
    uint32_t L = dotted(p, n, i, 4, a);
    if (!L || !more_dotted(p, n, i + L)) return L;
    uint32_t L6 = dotted(p, n, i, 6, NULL);
    return L6 && !more_dotted(p, n, i + L6) ? L : 0;
}

/* MAC as six hex pairs with ':' or '-' between them. Returns 17 or 0. */
static uint32_t parse_mac(const uint8_t *p, uint32_t n, uint32_t i, uint8_t *m) {
    if (i + 17 > n) return 0;
    uint8_t sep = p[i + 2];
    if (sep != ':' && sep != '-') return 0;
    for (int k = 0; k < 6; k++) {
        int h = hexval(p[i + 3 * k]), l = hexval(p[i + 3 * k + 1]);
        if (h < 0 || l < 0 || (k < 5 && p[i + 3 * k + 2] != sep)) return 0;
        m[k] = (uint8_t)(h << 4 | l);
    }
    if (i + 17 < n && (hexval(p[i + 17]) >= 0 || p[i + 17] == sep)) return 0;
    return 17;
}

/* IPv6 text at p[i..]: the longest run of hex digits, ':' and '.' that inet_pton reads
 * (trailing ':' or '.' dropped), with at least two colons. Returns its length (0: none). */
static uint32_t parse_v6(const uint8_t *p, uint32_t n, uint32_t i, uint8_t *a) {
    uint32_t j = i, colons = 0;
    while (j < n && j - i < 45 && (hexval(p[j]) >= 0 || p[j] == ':' || p[j] == '.')) colons += p[j++] == ':';
    if (colons < 2 || (j < n && j - i >= 45)) return 0;
    char s[46];
    while (j > i) {
        memcpy(s, p + i, j - i);
        s[j - i] = 0;
        if (inet_pton(AF_INET6, s, a) == 1) return j - i;
        if (p[j - 1] != ':' && p[j - 1] != '.') return 0;
        j--;
    }
    return 0;
}

/* Reverse-DNS names (DNS label form, as PTR queries carry them): "\x0258\x0210\x0210\x0210
 * \x07in-addr" (10.10.10.58) at p[i..], or 32 one-nibble labels before "\x03ip6". Returns the
 * length of the address labels (0: none); the address in a. */
static int ci_eq(const uint8_t *p, const char *s, uint32_t L) {
    for (uint32_t k = 0; k < L; k++) if ((p[k] | 0x20) != (uint8_t)s[k]) return 0;
    return 1;
}
static uint32_t parse_ptr4(const uint8_t *p, uint32_t n, uint32_t i, uint8_t *a) {
    uint32_t j = i;
    for (int k = 0; k < 4; k++) {
        uint32_t L = j < n ? p[j] : 0;
        if (L < 1 || L > 3 || j + 1 + L > n) return 0;
        unsigned v = 0;
        for (uint32_t d = 1; d <= L; d++) { if (!isdig(p[j + d])) return 0; v = v * 10 + (unsigned)(p[j + d] - '0'); }
        if (v > 255) return 0;
        a[3 - k] = (uint8_t)v;
        j += 1 + L;
    }
    return j + 8 <= n && p[j] == 7 && ci_eq(p + j + 1, "in-addr", 7) ? j - i : 0;
}
static uint32_t parse_ptr6(const uint8_t *p, uint32_t n, uint32_t i, uint8_t *a) {
    if (i + 64 + 4 > n) return 0;
    memset(a, 0, 16);
    for (int k = 0; k < 32; k++) {
        int v = p[i + 2 * k] == 1 ? hexval(p[i + 2 * k + 1]) : -1;
        if (v < 0) return 0;
        a[15 - k / 2] |= (uint8_t)(k & 1 ? v << 4 : v);
    }
    return p[i + 64] == 3 && ci_eq(p + i + 65, "ip6", 3) ? 64 : 0;
}

static void zero_hex(uint8_t *p, uint32_t from, uint32_t to) { for (uint32_t k = from; k < to; k++) if (hexval(p[k]) >= 0) p[k] = '0'; }

/* Addresses written as text in payload bytes p[0..n) (HTTP/SSDP URLs, JSON, device names):
 *  - IPv4 dotted quads and IPv6 text: replaced by the text of the same mapped address as the
 *    headers' (same key), written over the original, zero-padded to its width; a longer one
 *    pushes the rest of the window right (its last bytes fall out). Special addresses stay.
 *    A dotted run cut by the end of the window (it could be the start of an address) has its
 *    digits zeroed.
 *  - MACs as text (aa:bb:cc:dd:ee:ff, aa-bb-...): zeroed like binary MACs (group addresses
 *    stay); in runs of hex digits, a MAC of this capture's headers (bare, ACCF23623C6E; as
 *    an EUI-64 with FFFE in the middle) or its NIC-specific half (device names end in it)
 *    is zeroed. */
/* The address ad written as text at p[i..i+L) (IPv4 dotted quad or IPv6): rewritten in place as
 * the text of its mapped address (special ones stay). Returns the length it has now. */
static uint32_t map_text_addr(anon_ctx *a, uint64_t key, int ver, uint8_t *p, uint32_t n, uint32_t i, uint32_t L,
                              uint8_t *ad) {
    if (special(ver, ad)) return L;
    char t[48];
    anon_addr(a, key, ver, ad, ad);
    uint32_t tl = ver == 4 ? v4_text(ad, L, t) : v6_text(ad, L, t);
    put_text(p, n, i, L, t, tl);
    a->scrubbed_text_ip++;
    return tl;
}

static void scrub_text(anon_ctx *a, uint64_t key, uint8_t *p, uint32_t n) {
    const anon_dict *d = a->dict && a->dict->n ? a->dict : NULL;
    for (uint32_t i = 0; i < n;) {
        int c = p[i], prev = i ? p[i - 1] : ' ';
        uint8_t ad[16];
        uint32_t L;
        if (c == 1 && (L = parse_ptr6(p, n, i, ad))) {   /* x.x....ip6.arpa: same length, nibbles of the mapped address */
            if (!special(6, ad)) {
                anon_addr(a, key, 6, ad, ad);
                for (int k = 0; k < 32; k++) p[i + 2 * k + 1] = (uint8_t)"0123456789abcdef"[(ad[15 - k / 2] >> (k & 1 ? 4 : 0)) & 15];
                a->scrubbed_text_ip++;
            }
            i += L; continue;
        }
        if (c >= 1 && c <= 3 && (L = parse_ptr4(p, n, i, ad))) {   /* d.c.b.a.in-addr.arpa: the mapped address's labels */
            if (!special(4, ad)) {
                uint8_t t[16];
                uint32_t tl = 0, j = i;
                anon_addr(a, key, 4, ad, ad);
                for (int k = 0; k < 4; k++) {   /* each label zero-padded to its old length when shorter */
                    char dg[4];
                    int dl = sprintf(dg, "%u", ad[3 - k]), ol = p[j];
                    int w = dl < ol ? ol : dl;
                    t[tl++] = (uint8_t)w;
                    for (int z = dl; z < w; z++) t[tl++] = '0';
                    memcpy(t + tl, dg, (size_t)dl); tl += (uint32_t)dl;
                    j += 1u + (uint32_t)ol;
                }
                put_text(p, n, i, L, (const char *)t, tl);
                a->scrubbed_text_ip++;
                L = tl;
            }
            i += L; continue;
        }
        if (hexval(c) < 0 && c != ':') { i++; continue; }
        int after_hex = hexval(prev) >= 0;
        /* a token of hex digits and colons (MAC, IPv6) starts here */
        if (!after_hex && prev != ':' && prev != '.') {
            if ((L = parse_mac(p, n, i, ad))) {
                if (!(ad[0] & 1)) { zero_hex(p, i, i + L); a->scrubbed_text_mac++; }
                i += L; continue;
            }
            if ((L = parse_v6(p, n, i, ad))) { i += map_text_addr(a, key, 6, p, n, i, L, ad); continue; }
        }
        /* a dotted quad starts here ("http://10.1.2.3", "Host:10.1.2.3") */
        if (isdig(c) && !isdig(prev) && prev != '.') {
            if ((L = parse_v4(p, n, i, ad))) { i += map_text_addr(a, key, 4, p, n, i, L, ad); continue; }
            /* digits and dots up to the end of the window, with a dot: maybe an address cut short */
            uint32_t j = i, dots = 0;
            while (j < n && (isdig(p[j]) || p[j] == '.')) dots += p[j++] == '.';
            if (j == n && dots >= 1 && j - i <= 15) { zero_hex(p, i, j); a->scrubbed_text_ip++; i = j; continue; }
        }
        if (after_hex || c == ':') { i++; continue; }
        /* a run of hex digits: MACs of this capture in it */
        uint32_t j = i;
        while (j < n && hexval(p[j]) >= 0) j++;
        if (d && j - i >= 6) {
            for (uint32_t s = i; s + 6 <= j; s++) {
                uint8_t m[8] = { 0 };
                for (uint32_t k = 0; k < 8 && s + 2 * k + 1 < j; k++) m[k] = (uint8_t)(hexval(p[s + 2 * k]) << 4 | hexval(p[s + 2 * k + 1]));
                uint32_t hit = 0;
                if (s + 16 <= j && m[3] == 0xff && m[4] == 0xfe) {
                    uint8_t mac[6] = { m[0], m[1], m[2], m[5], m[6], m[7] }, flip[6];
                    memcpy(flip, mac, 6); flip[0] ^= 2;   /* modified EUI-64 flips the U/L bit */
                    if (dict_has(d, 6, mac) || dict_has(d, 6, flip)) hit = 16;
                }
                if (!hit && s + 12 <= j && dict_has(d, 6, m)) hit = 12;
                if (!hit && dict_has(d, 3, m)) hit = 6;
                if (hit) { zero_hex(p, s, s + hit); a->scrubbed_text_mac++; s += hit - 1; }
            }
        }
        i = j;
    }
}

/* DNS / mDNS / LLMNR over UDP: map the addresses in A and AAAA answers (the records
 * name hosts that may never appear in this capture's headers). Walks as far as the
 * retained bytes go; an address cut short is zeroed. */
static uint32_t dns_skip_name(const uint8_t *m, uint32_t n, uint32_t o) {
    for (int guard = 0; o < n && guard < 128; guard++) {
        uint8_t L = m[o];
        if (L == 0) return o + 1;
        if ((L & 0xc0) == 0xc0) return o + 2;   /* compression pointer ends the name */
        if (L & 0xc0) return n + 1;
        o += 1u + L;
    }
    return n + 1;
}
static void dns_answers(anon_ctx *a, uint64_t key, uint8_t *m, uint32_t n) {
    if (n < 12) return;
    unsigned qd = rd16be(m + 4), an = rd16be(m + 6) + rd16be(m + 8) + rd16be(m + 10);
    uint32_t o = 12;
    for (unsigned i = 0; i < qd && o <= n; i++) o = dns_skip_name(m, n, o) + 4;
    for (unsigned i = 0; i < an && o < n; i++) {
        o = dns_skip_name(m, n, o);
        if (o + 10 > n) return;
        unsigned type = rd16be(m + o), rdlen = rd16be(m + o + 8);
        o += 10;
        uint32_t len = type == 1 ? 4 : type == 28 ? 16 : 0;
        if (len && rdlen == len) {
            if (o + len <= n) anon_addr(a, key, len == 4 ? 4 : 6, m + o, m + o);
            else memset(m + o, 0, n - o);
            a->scrubbed_ip++;
        }
        o += rdlen;
    }
}

/* One's complement sum of 16-bit big-endian words (odd tail padded with zero). */
static uint32_t sum16(uint32_t s, const uint8_t *p, uint32_t n) {
    for (; n >= 2; p += 2, n -= 2) s += (uint32_t)(p[0] << 8 | p[1]);
    if (n) s += (uint32_t)p[0] << 8;
    return s;
}
static uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static inline void add32(uint8_t *p, uint32_t d) { wr32be(p, rd32be(p) + d); }

/* Where the transport header starts: walks IPv6 extension headers. Returns the offset
 * (0 when there is none to rewrite: a later fragment, or cut before it), sets *proto. */
static uint32_t l4_offset(const uint8_t *ip, uint32_t n, int *proto) {
    int ver = ip[0] >> 4;
    if (ver == 4) {
        uint32_t hl = (ip[0] & 15u) * 4;
        *proto = ip[9];
        if (rd16be(ip + 6) & 0x1fff) return 0;       /* later fragment: no transport header */
        return hl >= 20 && hl <= n ? hl : 0;
    }
    int nh = ip[6];
    uint32_t off = 40;
    for (int k = 0; k < 8; k++) {
        if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44) {
            if (off + 8 > n) return 0;
            uint32_t L = nh == 44 ? 8 : nh == 51 ? (ip[off + 1] + 2u) * 4 : (ip[off + 1] + 1u) * 8;
            if (nh == 44 && (rd16be(ip + off + 2) & 0xfff8)) return 0;   /* later fragment */
            nh = ip[off];
            off += L;
        } else break;
    }
    *proto = nh;
    return off <= n ? off : 0;
}

/* Rewrite the addresses of an IP header quoted inside an ICMP error (no ids: they
 * belong to another flow's packet). Region sums are handled by the caller. */
static void quoted_ip(anon_ctx *a, uint64_t key, uint8_t *ip, uint32_t n) {
    if (n < 1) return;
    int ver = ip[0] >> 4;
    if (ver == 4 && n >= 20) {
        uint8_t old[8];
        memcpy(old, ip + 12, 8);
        anon_addr(a, key, 4, ip + 12, ip + 12); anon_addr(a, key, 4, ip + 16, ip + 16);
        uint32_t hl = (ip[0] & 15u) * 4;
        if (hl >= 20 && hl <= n) {
            /* the quoted header checksum: adjust for the new addresses */
            uint16_t c = rd16be(ip + 10);
            uint32_t s = (uint16_t)~c;
            s += (uint16_t)~fold(sum16(0, old, 8));
            s = sum16(s, ip + 12, 8);
            wr16be(ip + 10, (uint16_t)~fold(s));
            if (a->cfg.mask_ports && (ip[9] == 6 || ip[9] == 17) && hl + 4 <= n) memset(ip + hl, 0, 4);
        }
    } else if (ver == 6 && n >= 40) {
        anon_addr(a, key, 6, ip + 8, ip + 8); anon_addr(a, key, 6, ip + 24, ip + 24);
        if (a->cfg.mask_ports && (ip[6] == 6 || ip[6] == 17) && n >= 44) memset(ip + 40, 0, 4);
    }
}

void anon_packet(anon_ctx *a, const anon_flow *f, int dir, uint8_t *ip, uint32_t n) {
    if (n < 1) return;
    int ver = ip[0] >> 4;
    if (!(ver == 4 && n >= 20) && !(ver == 6 && n >= 40)) return;
    const anon_cfg *c = &a->cfg;
    int alen = ver == 4 ? 4 : 16;
    uint32_t aoff = ver == 4 ? 12 : 8;
    int proto = -1;
    uint32_t l4 = l4_offset(ip, n, &proto);
    /* Transport checksum field, if present in the retained bytes. */
    uint32_t cko = 0;
    if (l4) {
        if (proto == 6 && l4 + 18 <= n) cko = l4 + 16;
        else if (proto == 17 && l4 + 8 <= n) cko = l4 + 6;
        else if ((proto == 1 || proto == 58) && l4 + 4 <= n) cko = l4 + 2;
    }
    int pseudo = proto != 1;   /* TCP, UDP, ICMPv6 checksums cover the addresses */
    uint16_t ck0 = cko ? rd16be(ip + cko) : 0;
    uint32_t s_old = 0;
    if (cko) {
        wr16be(ip + cko, 0);
        s_old = sum16(0, ip + l4, n - l4);
        if (pseudo) s_old = sum16(s_old, ip + aoff, 2u * (uint32_t)alen);
    }

    /* Network layer. */
    uint64_t key = f->addr_key;
    anon_addr(a, key, ver, ip + aoff, ip + aoff);
    anon_addr(a, key, ver, ip + aoff + alen, ip + aoff + alen);
    if (ver == 4) {
        if (c->ids) wr16be(ip + 4, (uint16_t)(rd16be(ip + 4) + f->ipid[dir]));
        uint32_t hl = (ip[0] & 15u) * 4;
        /* options (record route, timestamps, source routes) quote addresses */
        if (hl > 20 && hl <= n && a->dict && a->dict->n && c->addr != ANON_ADDR_KEEP) scrub(a, key, ip + 20, hl - 20);
        wr16be(ip + 10, 0);
        if (c->csum == ANON_CSUM_UPDATE && hl >= 20 && hl <= n) wr16be(ip + 10, (uint16_t)~fold(sum16(0, ip, hl)));
    } else if (c->ids) {
        uint32_t w = rd32be(ip);
        if (w & 0xfffff) wr32be(ip, (w & 0xfff00000u) | (((w & 0xfffff) ^ f->flowlabel[dir]) ? ((w & 0xfffff) ^ f->flowlabel[dir]) : 1));
    }

    /* Transport layer. */
    if (l4 && (proto == 6 || proto == 17)) {
        if (c->mask_ports && l4 + 4 <= n) memset(ip + l4, 0, 4);
        if (proto == 6 && c->ids) {
            uint8_t *t = ip + l4;
            uint32_t tn = n - l4;
            if (tn >= 8) add32(t + 4, f->seq[dir]);
            if (tn >= 14 && (t[13] & 0x10) && tn >= 12) add32(t + 8, f->seq[!dir]);
            uint32_t hl = tn >= 13 ? (t[12] >> 4) * 4u : 0;
            if (hl > tn) hl = tn;
            for (uint32_t o = 20; o < hl;) {
                int kind = t[o];
                if (kind == 0) break;
                if (kind == 1) { o++; continue; }
                if (o + 1 >= hl || t[o + 1] < 2 || o + t[o + 1] > hl) break;
                uint32_t L = t[o + 1];
                if (kind == 8 && L == 10) {
                    add32(t + o + 2, f->ts[dir]);
                    if (rd32be(t + o + 6)) add32(t + o + 6, f->ts[!dir]);
                } else if (kind == 5) {
                    for (uint32_t e = o + 2; e + 4 <= o + L; e += 4) add32(t + e, f->seq[!dir]);
                }
                o += L;
            }
        }
    } else if (l4 && proto == 1 && l4 + 8 <= n) {
        uint8_t *m = ip + l4;
        int type = m[0];
        if ((type == 0 || type == 8) && c->ids) wr16be(m + 4, (uint16_t)(rd16be(m + 4) ^ f->echo_id));
        if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) quoted_ip(a, key, m + 8, n - l4 - 8);
        if (type == 5 && l4 + 8 <= n) anon_addr(a, key, 4, m + 4, m + 4);    /* redirect gateway */
    } else if (l4 && proto == 58 && l4 + 8 <= n) {
        uint8_t *m = ip + l4;
        uint32_t mn = n - l4;
        int type = m[0];
        if ((type == 128 || type == 129) && c->ids) wr16be(m + 4, (uint16_t)(rd16be(m + 4) ^ f->echo_id));
        if (type >= 1 && type <= 4) quoted_ip(a, key, m + 8, mn - 8);
        if (type >= 133 && type <= 137) {
            uint32_t opt = type == 133 ? 8 : type == 134 ? 16 : type == 137 ? 40 : 24;
            if ((type == 135 || type == 136 || type == 137) && mn >= 24) anon_addr(a, key, 6, m + 8, m + 8);
            if (type == 137 && mn >= 40) anon_addr(a, key, 6, m + 24, m + 24);
            /* options: source/target link-layer address (types 1, 2) carry a MAC */
            while (opt + 2 <= mn && m[opt + 1]) {
                uint32_t L = m[opt + 1] * 8u;
                if (m[opt] == 1 || m[opt] == 2) {
                    uint32_t e = opt + L < mn ? opt + L : mn;
                    if (opt + 2 < e) memset(m + opt + 2, 0, e - opt - 2);
                }
                opt += L;
            }
        }
    }

    if (l4 && proto == 17 && c->addr != ANON_ADDR_KEEP && l4 + 8 < n) {
        uint16_t sp = rd16be(ip + l4), dp = rd16be(ip + l4 + 2);
        uint8_t *m = ip + l4 + 8;
        uint32_t mn = n - l4 - 8;
        if (sp == 53 || dp == 53 || sp == 5353 || dp == 5353 || sp == 5355 || dp == 5355) dns_answers(a, key, m, mn);
        /* NTP: from stratum 2 on, the reference id is the IPv4 address of the upstream server */
        if ((sp == 123 || dp == 123) && mn >= 16 && m[1] >= 2 && m[1] < 16) { anon_addr(a, key, 4, m + 12, m + 12); a->scrubbed_ip++; }
    }

    /* Payload: addresses and MACs quoted in application data, as text and as bytes. */
    if (l4 && c->addr != ANON_ADDR_KEEP) {
        uint32_t ps = l4;
        if (proto == 6 && l4 + 13 <= n) ps = l4 + (ip[l4 + 12] >> 4) * 4u;
        else if (proto == 17 || proto == 1 || proto == 58) ps = l4 + 8;
        if ((proto == 1 || proto == 58) && ps + 1 <= n && ((ip[l4] >= 1 && ip[l4] <= 4 && proto == 58) ||
            (proto == 1 && (ip[l4] == 3 || ip[l4] == 4 || ip[l4] == 5 || ip[l4] == 11 || ip[l4] == 12)))) {
            /* ICMP error: skip the quoted IP header (already mapped) and its ports */
            uint32_t qh = (ip[ps] >> 4) == 4 ? (ip[ps] & 15u) * 4 : 40;
            ps += qh + 4;
        }
        if (ps < n) scrub_text(a, key, ip + ps, n - ps);
        if (ps < n && a->dict && a->dict->n) scrub(a, key, ip + ps, n - ps);
    }
    if (cko) {
        uint16_t ck;
        if (c->csum == ANON_CSUM_ZERO || (proto == 17 && ver == 4 && ck0 == 0)) ck = 0;   /* UDP/IPv4 0 = no checksum */
        else {
            uint32_t s_new = sum16(0, ip + l4, n - l4);
            if (pseudo) s_new = sum16(s_new, ip + aoff, 2u * (uint32_t)alen);
            uint32_t s = (uint16_t)~ck0;
            s += (uint16_t)~fold(s_old);
            s += fold(s_new);
            ck = (uint16_t)~fold(s);
            if (proto == 17 && ck == 0) ck = 0xffff;
        }
        wr16be(ip + cko, ck);
    }
}
