/* Generation: the grammar mask, decoding of hand-made token sequences into packets and
 * their merge by time, and end to end: a tiny model trained a few steps on a tiny corpus
 * generates a trace that re-reads cleanly, is deterministic by seed, and (with tshark and
 * ../shared) passes validate_pcap.sh. */
#include "test.h"
#include "pktbuild.h"
#include "gen/generate.h"
#include "corpus/prep.h"
#include "corpus/tokens.h"
#include "corpus/bigrams.h"
#include "corpus/bpe.h"
#include "train/pretrain.h"
#include "train/finetune_gen.h"
#include "train/checkpoint.h"

#include "testfiles.h"

static int only(const uint8_t *m, int b) {
    int k = 0;
    for (int i = 0; i < 256; i++) k += m[i];
    return k == 1 && m[b];
}

static void test_grammar(void) {
    enum { V = TOK_LABEL0 + 3 };
    uint8_t m[V];
    gen_gram g;
    gen_gram_init(&g);
    g.strict_headers = 1;
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_BOS] && !m[TOK_PKT] && !m[0]);
    gen_gram_push(&g, TOK_BOS);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_LABEL0] && m[TOK_LABEL0 + 2] && !m[TOK_UNLABELLED] && !m[TOK_PKT] && !m[TOK_EOS]);
    gen_gram_mask(&g, m, V, TOK_LABEL0 + 1, TOK_LABEL0 + 2);   /* --label 1 */
    CHECK(!m[TOK_LABEL0] && m[TOK_LABEL0 + 1] && !m[TOK_LABEL0 + 2]);
    gen_gram_push(&g, TOK_LABEL0 + 1);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_PKT] && !m[TOK_EOS] && !m[0x45]);
    gen_gram_push(&g, TOK_PKT);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_DIR_CS] && !m[TOK_DIR_SC]);               /* the first packet is side a's */
    gen_gram_push(&g, TOK_DIR_CS);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_TIME0] && !m[TOK_TIME0 + 5] && !m[0]);    /* and its gap is 0 */
    gen_gram_push(&g, TOK_TIME0);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[0x45] && m[0x60] && !m[0x44] && !m[0x00] && !m[0x55] && !m[TOK_PKT]);
    /* an IPv4 header: total length 44 (IP, TCP, 4 option bytes), TTL 64, TCP */
    static const uint8_t ip4[19] = { 0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 6 };
    for (int i = 0; i < 19; i++) {
        gen_gram_push(&g, ip4[i]);
        gen_gram_mask(&g, m, V, TOK_LABEL0, V);
        CHECK(!m[TOK_PKT] && !m[TOK_EOS] && !m[TOK_LABEL0]);
        if (i == 8) CHECK(m[6] && m[17] && m[1] && !m[58] && !m[0] && !m[0xff]);   /* IPv4 protocol */
        else if (i == 1) CHECK(m[0] && m[5] && !m[6] && !m[0xff]);      /* length <= the MTU, 1500 */
        else if (i == 2) CHECK(!m[0] && !m[27] && m[28] && m[0xff]);    /* >= IP + 8 bytes */
        else if (i == 5) CHECK(m[0] && m[0x40] && !m[0x20] && !m[0x41]); /* DF or nothing */
        else if (i == 6) CHECK(m[0] && !m[1]);                          /* fragment offset 0 */
        else if (i == 7) CHECK(!m[0] && m[1] && m[0xff]);               /* TTL > 0 */
        else CHECK(m[0x00] && m[0xff]);
    }
    gen_gram_push(&g, 0);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);                /* 20 bytes: the IP header, not yet TCP's */
    CHECK(!m[TOK_PKT] && !m[TOK_EOS] && m[0x12]);
    for (int i = 0; i < 20; i++) {                         /* a TCP header with data offset 6 */
        gen_gram_push(&g, i == 12 ? 0x60 : 0);
        gen_gram_mask(&g, m, V, TOK_LABEL0, V);
        /* the fixed 20 bytes must be there; options may be cut (a short snaplen cuts SYN
         * options in header-only corpora; the trace writer completes them) */
        if (i < 19) CHECK(!m[TOK_PKT]);
    }
    CHECK(m[TOK_PKT] && m[TOK_EOS] && !m[TOK_BOS] && !m[TOK_PAD] && !m[TOK_LABEL0] && !m[TOK_TIME0]);
    /* an option kind that fits the 4 bytes left: EOL, NOP, MSS, window scale, SACK-permitted */
    CHECK(m[0] && m[1] && m[2] && m[3] && m[4] && !m[5] && !m[8] && !m[0x12]);
    gen_gram_push(&g, 2);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);                /* MSS: its length is 4 */
    CHECK(only(m, 4) && m[TOK_PKT]);                       /* (a short snaplen may cut it) */
    gen_gram_push(&g, 4);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[0x05] && m[0xb4]);                             /* its value: free */
    gen_gram_push(&g, 0x05); gen_gram_push(&g, 0xb4);      /* 44 of 44 bytes */
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_PKT] && m[TOK_EOS] && !m[0x12] && !m[0]);  /* the length is reached: it ends */
    gen_gram_push(&g, TOK_PKT);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_DIR_CS] && m[TOK_DIR_SC]);
    gen_gram_push(&g, TOK_DIR_SC);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[TOK_TIME0] && m[TOK_TIME0 + 40] && !m[TOK_DIR_CS]);
    gen_gram_push(&g, TOK_TIME0 + 40);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[0x45] && !m[0x60]);                            /* the flow's IP version */
    for (int i = 0; i < 9; i++) gen_gram_push(&g, i ? 0 : 0x45);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[6] && !m[17] && !m[1]);                        /* and its protocol */
    gen_gram_push(&g, 6);                                  /* TCP */
    for (int i = 0; i < 10; i++) gen_gram_push(&g, 0);    /* the rest of the IP header */
    for (int i = 0; i < 12; i++) gen_gram_push(&g, 0);    /* TCP bytes 0..11 */
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);                /* TCP byte 12: data offset, reserved bits */
    CHECK(m[0x50] && m[0x51] && m[0xf0] && !m[0x40] && !m[0x52] && !m[0x5e] && !m[0x00]);
    gen_gram_push(&g, 0x50);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);                /* TCP byte 13: flags */
    CHECK(m[0x02] && m[0x12] && m[0x10] && m[0x18] && m[0x11] && m[0x04] && m[0x14] && m[0xc2]);
    CHECK(!m[0x00] && !m[0x01] && !m[0x08] && !m[0x03] && !m[0x06] && !m[0x05] && !m[0x29] && !m[0xff]);
    gen_gram_push(&g, 0x12);
    gen_gram_mask(&g, m, V, TOK_LABEL0, V);
    CHECK(m[0x00] && m[0xff]);                             /* the window: the model's */
    /* --raw-tcp-flags: any byte */
    gen_gram g2;
    gen_gram_init(&g2);
    g2.raw_tcp_flags = 1;
    const int pre[] = { TOK_BOS, TOK_LABEL0, TOK_PKT, TOK_DIR_CS, TOK_TIME0 };
    for (int i = 0; i < 5; i++) gen_gram_push(&g2, pre[i]);
    for (int i = 0; i < 33; i++) gen_gram_push(&g2, i ? (i == 9 ? 6 : 0) : 0x45);
    gen_gram_mask(&g2, m, V, TOK_LABEL0, V);               /* TCP byte 13 */
    CHECK(m[0x00] && m[0xff] && m[0x03]);
}

/* After the first packet the flow's addresses and ports are fixed: the same for a packet of
 * side a, swapped for one of side b (IPv4 and IPv6) */
static void feed(gen_gram *g, const uint8_t *b, int n) { for (int i = 0; i < n; i++) gen_gram_push(g, b[i]); }
static void test_grammar_flow_identity(void) {
    enum { V = TOK_LABEL0 + 1 };
    uint8_t m[V];
    for (int v6 = 0; v6 <= 1; v6++) {
        gen_gram g;
        gen_gram_init(&g);
        const int pre[] = { TOK_BOS, TOK_LABEL0, TOK_PKT, TOK_DIR_CS, TOK_TIME0 };
        for (int i = 0; i < 5; i++) gen_gram_push(&g, pre[i]);
        uint8_t p[68];
        memset(p, 0, sizeof p);
        int ihl = v6 ? 40 : 20, a0 = v6 ? 8 : 12, al = v6 ? 16 : 4;
        p[0] = v6 ? 0x60 : 0x45;
        p[v6 ? 6 : 9] = 17;
        p[v6 ? 5 : 3] = v6 ? 8 : 28; p[v6 ? 7 : 8] = 64;      /* length: IP + UDP headers; TTL */
        for (int i = 0; i < 2 * al; i++) p[a0 + i] = (uint8_t)(i < al ? 10 + i : 200 + i);   /* src, dst */
        p[ihl] = 0x9c; p[ihl + 1] = 0x40; p[ihl + 2] = 0x00; p[ihl + 3] = 0x35;          /* 40000 -> 53 */
        feed(&g, p, ihl + 8);
        for (int dir = 0; dir <= 1; dir++) {
            gen_gram_push(&g, TOK_PKT);
            gen_gram_push(&g, dir ? TOK_DIR_SC : TOK_DIR_CS);
            gen_gram_push(&g, TOK_TIME0 + 3);
            feed(&g, p, a0);
            for (int i = 0; i < 2 * al; i++) {
                gen_gram_mask(&g, m, V, TOK_LABEL0, V);
                int want = p[a0 + (dir ? (i + al) % (2 * al) : i)];
                CHECKF(only(m, want), "v6 %d dir %d address byte %d", v6, dir, i);
                gen_gram_push(&g, want);
            }
            feed(&g, p + a0 + 2 * al, ihl - a0 - 2 * al);
            for (int i = 0; i < 4; i++) {
                gen_gram_mask(&g, m, V, TOK_LABEL0, V);
                int want = p[ihl + (dir ? (i + 2) % 4 : i)];
                CHECKF(only(m, want), "v6 %d dir %d port byte %d", v6, dir, i);
                gen_gram_push(&g, want);
            }
            gen_gram_mask(&g, m, V, TOK_LABEL0, V);   /* UDP length: free */
            CHECK(m[0x00] && m[0xff]);
            feed(&g, p + ihl + 4, 4);
        }
    }
}

/* Bigrams constrain a later packet's addresses and ports as bytes do, without a direction
 * token: the first source-address byte may be either side's, the rest follow the side chosen
 * (side b: source and destination, and the ports, swapped); a packet ends only after its UDP
 * header (IPv4 and IPv6) */
static void big_feed(gen_gram *g, int *prev, const uint8_t *b, int n) {
    for (int i = 0; i < n; i++) {
        int w = *prev < 0 ? b[0] << 8 | b[1] : (*prev & 0xff) << 8 | b[i];
        if (*prev < 0) i++;
        gen_gram_push(g, BIG_W0 + w);
        *prev = w;
    }
}
/* the second bytes allowed after prev (words prev<<8 | x), as a 256 mask; 0 if another word is allowed */
static int big_next(const uint8_t *m, int prev, uint8_t *ok) {
    int other = 0;
    memset(ok, 0, 256);
    for (int w = 0; w < 65536; w++)
        if (m[BIG_W0 + w]) {
            if (w >> 8 == (prev & 0xff)) ok[w & 0xff] = 1;
            else other = 1;
        }
    return !other;
}
static void test_grammar_bigrams(void) {
    enum { V = BIG_LABEL0 };
    uint8_t *m = malloc(V), ok[256];
    for (int v6 = 0; v6 <= 1; v6++) {
        gen_gram g;
        gen_gram_init(&g);
        g.fmt = TOKFMT_BIGRAMS;
        gen_gram_push(&g, BIG_CLS);
        gen_gram_push(&g, BIG_UNLABELLED);
        gen_gram_push(&g, BIG_PKT);
        uint8_t p[68];
        memset(p, 0, sizeof p);
        int ihl = v6 ? 40 : 20, a0 = v6 ? 8 : 12, al = v6 ? 16 : 4, prev = -1;
        p[0] = v6 ? 0x60 : 0x45;
        p[v6 ? 6 : 9] = 17;
        p[v6 ? 5 : 3] = v6 ? 8 : 28; p[v6 ? 7 : 8] = 64;      /* length: IP + UDP headers; TTL */
        for (int i = 0; i < 2 * al; i++) p[a0 + i] = (uint8_t)(i < al ? 10 + i : 200 + i);   /* src, dst */
        p[ihl] = 0x9c; p[ihl + 1] = 0x40; p[ihl + 2] = 0x00; p[ihl + 3] = 0x35;          /* 40000 -> 53 */
        gen_gram_mask(&g, m, V, BIG_LABEL0, V);   /* the first word: version 4 or 6 */
        CHECK(m[BIG_W0 + 0x4500] && m[BIG_W0 + 0x60ff] && !m[BIG_W0 + 0x4400] && !m[BIG_W0 + 0x7000] && !m[BIG_PKT]);
        big_feed(&g, &prev, p, ihl + 7);
        gen_gram_mask(&g, m, V, BIG_LABEL0, V);   /* one byte short of the UDP header */
        CHECKF(!m[BIG_PKT] && !m[BIG_SEP], "v6 %d: a packet ends before its UDP header", v6);
        big_feed(&g, &prev, p + ihl + 7, 1);
        gen_gram_mask(&g, m, V, BIG_LABEL0, V);
        CHECK(m[BIG_PKT] && m[BIG_SEP]);
        for (int dir = 0; dir <= 1; dir++) {
            gen_gram_push(&g, BIG_PKT);
            prev = -1;
            gen_gram_mask(&g, m, V, BIG_LABEL0, V);   /* the flow's version */
            CHECK(m[BIG_W0 + (v6 ? 0x6000 : 0x4500)] && !m[BIG_W0 + (v6 ? 0x4500 : 0x6000)]);
            big_feed(&g, &prev, p, a0);
            for (int i = 0; i < 2 * al; i++) {
                gen_gram_mask(&g, m, V, BIG_LABEL0, V);
                int want = p[a0 + (dir ? (i + al) % (2 * al) : i)];
                CHECKF(big_next(m, prev, ok), "v6 %d dir %d address byte %d: words not after the previous", v6, dir, i);
                int nok = 0;
                for (int b = 0; b < 256; b++) nok += ok[b];
                if (i == 0) CHECKF(ok[p[a0]] && ok[p[a0 + al]] && nok == 2, "v6 %d dir %d: the first source byte is either side's",
                                   v6, dir);
                else CHECKF(only(ok, want), "v6 %d dir %d address byte %d", v6, dir, i);
                uint8_t b = (uint8_t)want;
                big_feed(&g, &prev, &b, 1);
            }
            big_feed(&g, &prev, p + a0 + 2 * al, ihl - a0 - 2 * al);
            for (int i = 0; i < 4; i++) {
                gen_gram_mask(&g, m, V, BIG_LABEL0, V);
                int want = p[ihl + (dir ? (i + 2) % 4 : i)];
                CHECK(big_next(m, prev, ok));
                CHECKF(only(ok, want), "v6 %d dir %d port byte %d", v6, dir, i);
                uint8_t b = (uint8_t)want;
                big_feed(&g, &prev, &b, 1);
            }
            gen_gram_mask(&g, m, V, BIG_LABEL0, V);   /* UDP length: free */
            CHECK(big_next(m, prev, ok) && ok[0x00] && ok[0xff]);
            big_feed(&g, &prev, p + ihl + 4, 4);
        }
    }
    free(m);
}

/* bpe: sequences sampled at random under the grammar (any allowed token, the tokenizers of
 * tests/fixtures/bpe) read back as well-formed packets: the text is words of four hex digits,
 * each word's first byte the previous word's last (no stray token), every packet IPv4/IPv6 of
 * TCP/UDP/ICMP with its headers whole, and a later packet's addresses and ports the first
 * packet's, either way round. */
static void test_grammar_bpe(void) {
    static const char *const tk[2] = { "tests/fixtures/bpe/gpt2/tokenizer.json", "tests/fixtures/bpe/qwen2/tokenizer.json" };
    for (int which = 0; which < 2; which++) {
        char err[512];
        bpe *b = bpe_load(tk[which], err, sizeof err);
        CHECKF(b != NULL, "%s", err);
        if (!b) continue;
        tok_format tf;
        tokfmt_bpe(&tf, bpe_n_ids(b), bpe_added_id(b, "<|endoftext|>"), bpe_text_id(b, "\n"));
        gen_bpe gb;
        CHECK(gen_bpe_init(&gb, b, &tf) == 0 && gb.n_hex > 16);
        const int V = tf.label_base + 2;
        uint8_t *m = malloc((size_t)V);
        tok_t *q = malloc(4096 * sizeof *q);
        uint64_t rng = 7 + (uint64_t)which;
        int pk_total = 0, bad = 0;
        for (int seq = 0; seq < 20; seq++) {
            gen_gram g;
            gen_gram_init(&g);
            g.fmt = TOKFMT_BPE;
            g.bpe = &gb;
            int n = 0, ended = 0;
            while (n < 4000 && !ended) {
                gen_gram_mask(&g, m, V, tf.label_base, V);
                int na = 0, pick = -1;
                for (int t = 0; t < V; t++) na += m[t];
                CHECKF(na > 0, "%s seq %d: nothing allowed after %d tokens", tk[which], seq, n);
                if (!na) break;
                /* end packets now and then: a random walk would rarely pick the one "\n" */
                if (m[tf.pkt] && splitmix64(&rng) % 4 == 0) pick = g.npkts >= 3 ? tf.eos : tf.pkt;
                for (uint64_t k = splitmix64(&rng) % (uint64_t)na; pick < 0; ) {
                    for (int t = 0; t < V; t++) if (m[t] && k-- == 0) { pick = t; break; }
                }
                q[n++] = pick;
                gen_gram_push(&g, pick);
                ended = pick == tf.eos && n > 1;
            }
            CHECKF(ended, "%s seq %d: no end in %d tokens", tk[which], seq, n);
            tok_reader r;
            tok_reader_init_fmt(&r, TOKFMT_BPE, q, (size_t)n, 0);
            tok_reader_set_bpe(&r, b, &tf);
            uint8_t buf[4096], first[64];
            tok_packet p;
            int np = 0, fihl = 20;
            memset(buf, 0, sizeof buf);
            while (tok_reader_next(&r, &p, buf, sizeof buf) == 1) {
                int v = buf[0] >> 4, ihl = v == 4 ? (buf[0] & 15) * 4 : 40, pr = v == 4 ? buf[9] : buf[6];
                int ok = (v == 4 || v == 6) && p.n >= 20 && (pr == 6 || pr == 17 || pr == (v == 4 ? 1 : 58)) &&
                         (int)p.n >= ihl + (pr == 6 ? 20 : 8);
                int a0 = v == 4 ? 12 : 8, al = v == 4 ? 4 : 16;
                if (ok && np == 0) { memcpy(first, buf, (size_t)ihl + 4); fihl = ihl; }
                else if (ok && (pr == 6 || pr == 17)) {   /* the flow's endpoints, in either direction */
                    int d = p.dir;
                    ok = !memcmp(buf + a0, first + a0 + d * al, (size_t)al) && !memcmp(buf + a0 + al, first + a0 + (1 - d) * al, (size_t)al) &&
                         !memcmp(buf + ihl, first + fihl + 2 * d, 2) && !memcmp(buf + ihl + 2, first + fihl + 2 * (1 - d), 2);
                }
                if (!ok) bad++;
                np++;
            }
            CHECKF(r.stray == 0, "%s seq %d: %llu stray tokens", tk[which], seq, (unsigned long long)r.stray);
            CHECKF(np >= 1, "%s seq %d: no packet", tk[which], seq);
            pk_total += np;
        }
        CHECKF(bad == 0, "%s: %d of %d packets not well-formed", tk[which], bad, pk_total);
        free(m); free(q);
        gen_bpe_free(&gb);
        bpe_free(b);
    }
}

/* Append the tokens of one packet (encoder of the corpus stage). */
static size_t put_pkt(tok_t *t, size_t n, const uint8_t *ip, uint32_t len, int64_t ts, int dir, int64_t *clock) {
    return n + tok_encode_packet(t + n, ip, len, ts, dir, clock);
}

static void test_decode_handmade(void) {
    tok_t t[4096];
    uint8_t ip[1600];
    size_t n = 0;
    int64_t clock = 0;
    uint32_t len;
    /* flow 0: a TCP handshake and one request, with the payload cut to 4 bytes as the corpus
     * keeps it (the IP length says 100 bytes of payload) */
    t[n++] = TOK_BOS; t[n++] = TOK_LABEL0;
    len = build_ip4(ip, 6, 0x0a000001, 0x0a000002, 40000, 443, TCP_SYN, 0, 0, 0);
    n = put_pkt(t, n, ip, len, 0, 0, &clock);
    len = build_ip4(ip, 6, 0x0a000002, 0x0a000001, 443, 40000, TCP_SYN | TCP_ACK, 0, 1, 0);
    n = put_pkt(t, n, ip, len, 1000000, 1, &clock);
    len = build_ip4(ip, 6, 0x0a000001, 0x0a000002, 40000, 443, TCP_ACK, 1, 1, 0);
    n = put_pkt(t, n, ip, len, 2000000, 0, &clock);
    len = build_ip4(ip, 6, 0x0a000001, 0x0a000002, 40000, 443, TCP_ACK | TCP_PSH, 1, 1, 100);
    n = put_pkt(t, n, ip, 44, 3000000, 0, &clock);
    t[n++] = TOK_EOS;
    gen_pool pool;
    gen_pool_init(&pool, 5);
    CHECK_EQ(gen_pool_add_seq(&pool, t, n, 1, 0, 500000000), 4);
    /* flow 1: UDP, cut by the context in its second packet: that packet is dropped */
    size_t m0 = n;
    clock = 0;
    t[n++] = TOK_BOS; t[n++] = TOK_LABEL0;
    len = build_ip4(ip, 17, 0x0a000003, 0x08080808, 5353, 53, 0, 0, 0, 30);
    n = put_pkt(t, n, ip, len, 0, 0, &clock);
    n = put_pkt(t, n, ip, 10, 5000, 1, &clock);
    CHECK_EQ(gen_pool_add_seq(&pool, t + m0, n - m0, 0, 1, 501500000), 1);
    CHECK_EQ(pool.st.cut_ctx, 1);
    CHECK_EQ(pool.st.packets, 5);
    char path[256];
    tpath(path, sizeof path, "handmade.pcap");
    trace_cfg cfg;
    trace_cfg_default(&cfg);
    trace_stats st;
    CHECK_EQ(gen_pool_write(&pool, path, &cfg, &st), 0);
    CHECK_EQ(st.written, 5);
    CHECK_EQ(st.dropped, 0);
    gen_pool_free(&pool);
    rec r[8];
    CHECK_EQ(read_back(path, r, 8), 5);
    /* merged by time: SYN 0.5 s, SYN-ACK 0.501, UDP 0.5015, ACK 0.502, data 0.503 (gaps
     * decode within 12 %) */
    pkt_info pi[5];
    for (int i = 0; i < 5; i++) CHECK_EQ(pkt_parse(r[i].p.linktype, r[i].p.data, r[i].p.caplen, r[i].p.len, &pi[i]), 0);
    CHECK_EQ(pi[0].proto, 6); CHECK_EQ(pi[0].tcp_flags, TCP_SYN);
    CHECK_EQ(pi[1].tcp_flags, TCP_SYN | TCP_ACK);
    CHECK_EQ(pi[2].proto, 17);
    CHECK_EQ(pi[3].tcp_flags, TCP_ACK);
    CHECK_EQ(pi[4].tcp_flags, TCP_ACK | TCP_PSH);
    CHECK_NEAR(r[0].p.ts_ns, 500000000, 1);
    CHECK_NEAR(r[1].p.ts_ns - r[0].p.ts_ns, 1000000, 122100);
    CHECK_NEAR(r[4].p.ts_ns - r[0].p.ts_ns, 3000000, 370000);
    /* the cut payload is padded back to the length the header asked for */
    CHECK_EQ(r[4].p.len, 14 + 140);
    /* seq/ack follow the bytes: SYN-ACK acks ISN+1, the request starts at ISN+1 */
    const uint8_t *syn = r[0].d + 14 + 20, *sa = r[1].d + 14 + 20, *ack = r[3].d + 14 + 20, *data = r[4].d + 14 + 20;
    CHECK_EQ(rd32be(sa + 8), rd32be(syn + 4) + 1);
    CHECK_EQ(rd32be(ack + 4), rd32be(syn + 4) + 1);
    CHECK_EQ(rd32be(ack + 8), rd32be(sa + 4) + 1);
    CHECK_EQ(rd32be(data + 4), rd32be(syn + 4) + 1);
    /* --timing replay: the gap before every packet after a flow's first is drawn from the
     * pool of real gaps, whatever the time tokens say (here ~1 ms; the pool holds 2 s and
     * 3 s); the first packet keeps the flow's start */
    int64_t real_gaps[2] = { 2000000000, 3000000000 };
    gen_pool_init(&pool, 5);
    pool.gaps = real_gaps; pool.ngaps = 2;
    CHECK_EQ(gen_pool_add_seq(&pool, t, m0, 1, 0, 500000000), 4);
    CHECK_EQ(pool.r[0].ts, 500000000);
    for (int i = 1; i < 4; i++) {
        int64_t g = pool.r[i].ts - pool.r[i - 1].ts;
        CHECKF(g == real_gaps[0] || g == real_gaps[1], "gap %d: %lld", i, (long long)g);
    }
    pool.gaps = NULL; pool.ngaps = 0;   /* the pool does not own them */
    gen_pool_free(&pool);
}

/* Tiny capture -> prep corpus -> a few training steps -> generate. */
static int make_corpus(const char *dir, int labelled) {
    char pcap[256];
    snprintf(pcap, sizeof pcap, "%s/tiny_tcp.pcap", t_tmpdir());
    cap_writer w;
    if (cap_writer_open(&w, pcap, 101, 1, 65535) != 0) return -1;
    uint8_t ip[1600];
    int64_t ts = 1700000000LL * 1000000000LL;
    for (int f = 0; f < 24; f++) {
        uint32_t c = 0x0a000001 + f, s = 0xc0a80001;
        uint16_t cp = (uint16_t)(40000 + f), sp = f % 2 ? 80 : 443;
        struct { int dir; uint8_t fl; uint32_t seq, ack, plen; } P[6] = {
            { 0, TCP_SYN, 100, 0, 0 }, { 1, TCP_SYN | TCP_ACK, 900, 101, 0 }, { 0, TCP_ACK, 101, 901, 0 },
            { 0, TCP_ACK | TCP_PSH, 101, 901, 20 + f }, { 1, TCP_ACK | TCP_PSH, 901, 121 + f, 40 }, { 0, TCP_ACK | TCP_FIN, 121 + f, 941, 0 },
        };
        for (int k = 0; k < 6; k++) {
            uint32_t n = P[k].dir ? build_ip4(ip, 6, s, c, sp, cp, P[k].fl, P[k].seq, P[k].ack, P[k].plen)
                                  : build_ip4(ip, 6, c, s, cp, sp, P[k].fl, P[k].seq, P[k].ack, P[k].plen);
            cap_writer_write(&w, ts, ip, n, n);
            ts += 1000000 + 1000 * k;
        }
        ts += 50000000;
    }
    if (cap_writer_close(&w) != 0) return -1;
    prep_cfg pc;
    prep_cfg_default(&pc);
    pc.payload = 8;
    pc.hash_inputs = 0;
    label_set ls = { 0 };
    label_set_add(&ls, "web");
    prep *p = prep_new(&pc, labelled ? &ls : NULL, NULL, 0, NULL);
    char err[512];
    int rc = prep_add_file(p, pcap, labelled ? 0 : -1, err, sizeof err);
    if (rc == 0) rc = prep_finish(p, dir, err, sizeof err);
    if (rc) printf("  prep: %s\n", err);
    prep_free(p);
    label_set_free(&ls);
    return rc;
}

static int file_eq(const char *a, const char *b) {
    FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
    int same = x && y;
    while (same) {
        int c = fgetc(x), d = fgetc(y);
        if (c != d) same = 0;
        if (c == EOF || d == EOF) break;
    }
    if (x) fclose(x);
    if (y) fclose(y);
    return same;
}

static void test_generate_tiny_model(void) {
    char dir[256], ckpt[300], out[300], out2[300], out3[300];
    snprintf(dir, sizeof dir, "%s/gen_corpus", t_tmpdir());
    CHECK_EQ(make_corpus(dir, 1), 0);
    snprintf(ckpt, sizeof ckpt, "%s/gen.ckpt", t_tmpdir());
    pretrain_opts po;
    pretrain_defaults(&po);
    po.data_dir = dir; po.out_path = ckpt;
    po.cfg.layers = 1; po.cfg.d_model = 32; po.cfg.heads = 2; po.cfg.ctx = 160;
    po.batch = 8; po.steps = t_san() ? 4 : 60; po.lr = 1e-2f; po.warmup = 2; po.threads = 1; po.quiet = 1;
    CHECK_EQ(pretrain_run(&po), 0);
    gen_opts o;
    gen_defaults(&o);
    o.model_path = ckpt;
    snprintf(out, sizeof out, "%s/gen_a.pcap", t_tmpdir());
    o.out_path = out; o.flows = 10; o.batch = 4; o.seed = 7; o.threads = 1; o.quiet = 1; o.label = 0;
    int rc = gen_run(&o);
    CHECKF(rc == 0, "%s", o.err);
    CHECK_EQ(o.ds.seqs, 10);
    CHECK(o.ds.packets > 0);
    CHECK_EQ(o.ts.in, o.ds.packets);
    CHECK(o.ts.written + o.ts.dropped == o.ts.in);
    rec *r = malloc(4096 * sizeof *r);
    int n = read_back(out, r, 4096);
    CHECK_EQ(n, (int)o.ts.written);
    for (int i = 0; i < n; i++) {
        pkt_info pi;
        CHECK_EQ(pkt_parse(r[i].p.linktype, r[i].p.data, r[i].p.caplen, r[i].p.len, &pi), 0);
        if (i) CHECK(r[i].p.ts_ns >= r[i - 1].p.ts_ns);
    }
    free(r);
    /* same seed, same file */
    gen_opts o2 = o;
    snprintf(out2, sizeof out2, "%s/gen_b.pcap", t_tmpdir());
    o2.out_path = out2;
    CHECK_EQ(gen_run(&o2), 0);
    CHECK(file_eq(out, out2));
    CHECK_EQ(o.tok_hash, o2.tok_hash);
    gen_opts o3 = o;
    snprintf(out3, sizeof out3, "%s/gen_c.pcap", t_tmpdir());
    o3.out_path = out3; o3.seed = 8;
    CHECK_EQ(gen_run(&o3), 0);
    CHECK(o.tok_hash != o3.tok_hash);
    /* any batch size and thread count decodes the same flows into the same file: one
     * sampler stream per flow, rows of the fused step that do not interact, start times
     * from the flow number (continuous batching finishes flows in another order) */
    gen_opts o5 = o;
    snprintf(out2, sizeof out2, "%s/gen_d.pcap", t_tmpdir());
    o5.out_path = out2; o5.batch = 1;
    CHECK_EQ(gen_run(&o5), 0);
    CHECK_EQ(o5.ds.seqs, 10);
    CHECK_EQ(o.tok_hash, o5.tok_hash);
    CHECK(file_eq(out, out2));
    o5.batch = 3; o5.threads = 2;
    CHECK_EQ(gen_run(&o5), 0);
    CHECK_EQ(o.tok_hash, o5.tok_hash);
    CHECK(file_eq(out, out2));
    /* prompts: the first 2 packets of real flows are kept as they were tokenised */
    gen_opts o4 = o;
    char pr[300];
    snprintf(pr, sizeof pr, "%s/tiny_tcp.pcap", t_tmpdir());
    snprintf(out3, sizeof out3, "%s/gen_p.pcapng", t_tmpdir());
    o4.out_path = out3; o4.prompt_pcap = pr; o4.prompt_packets = 2; o4.prompt_payload = 8; o4.pcapng = 1;
    o4.timing = GEN_TIMING_REPLAY; o4.timing_from = pr;
    rc = gen_run(&o4);
    CHECKF(rc == 0, "%s", o4.err);
    CHECK_EQ(o4.nprompts, 24);
    /* every flow keeps at least its first prompt packet (the second may be extended by the
     * model and then cut by the context) */
    CHECK(o4.ds.packets >= 10);
    /* --timing replay --timing-from a capture whose flows have gaps of 3 s (the model
     * learnt ~1 ms): every gap within a written flow is a real one, as the time tokens
     * carry it (2.82 s or 3.55 s: buckets of 3 s measured from the decoded time, docs/tokens.md) */
    char slow[300], out6[300];
    snprintf(slow, sizeof slow, "%s/slow_udp.pcap", t_tmpdir());
    cap_writer sw;
    CHECK_EQ(cap_writer_open(&sw, slow, 101, 1, 65535), 0);
    for (int k = 0; k < 8; k++) {
        uint8_t ip[128];
        uint32_t len = build_ip4(ip, 17, 0x0a000001, 0x0a000002 + (k & 1), 5000, 53, 0, 0, 0, 10);
        cap_writer_write(&sw, 1700000000LL * 1000000000LL + (int64_t)k / 2 * 3000000000LL + (k & 1), ip, len, len);
    }
    CHECK_EQ(cap_writer_close(&sw), 0);
    gen_opts o6 = o;
    snprintf(out6, sizeof out6, "%s/gen_replay.pcap", t_tmpdir());
    o6.out_path = out6; o6.timing = GEN_TIMING_REPLAY; o6.timing_from = slow;
    rc = gen_run(&o6);
    CHECKF(rc == 0, "%s", o6.err);
    r = malloc(4096 * sizeof *r);
    n = read_back(out6, r, 4096);
    CHECK_EQ(n, (int)o6.ts.written);
    int pairs = 0;
    for (int i = 0; i < n; i++) {
        pkt_info a;
        pkt_parse(r[i].p.linktype, r[i].p.data, r[i].p.caplen, r[i].p.len, &a);
        for (int j = i - 1; j >= 0; j--) {   /* the previous packet of the same flow (server address) */
            pkt_info b;
            pkt_parse(r[j].p.linktype, r[j].p.data, r[j].p.caplen, r[j].p.len, &b);
            const uint8_t *sa = a.dst[0] == 10 || a.dst[0] == 0xfd ? a.src : a.dst, *sb = b.dst[0] == 10 || b.dst[0] == 0xfd ? b.src : b.dst;
            if (a.ipver != b.ipver || memcmp(sa, sb, a.ipver == 4 ? 4 : 16)) continue;
            double g = (double)(r[i].p.ts_ns - r[j].p.ts_ns) * 1e-9;
            CHECKF(g > 2.5 && g < 4.0, "packet %d: gap %.6f s", i, g);
            pairs++;
            break;
        }
    }
    CHECK(pairs > 0 || t_san());   /* the sanitizer run's 4-step model may end every flow after one packet */
    free(r);
    const char *sh = t_shared();
    if (sh && system("command -v tshark >/dev/null 2>&1") == 0) {
        char cmd[1024];
        char hm[256];
        tpath(hm, sizeof hm, "handmade.pcap");
        const char *files[3] = { out, out3, hm };
        for (int i = 0; i < 3; i++) {
            snprintf(cmd, sizeof cmd, "bash %s/tools/validate-pcap/validate_pcap.sh %s > %s.log 2>&1", sh, files[i], files[i]);
            CHECKF(system(cmd) == 0, "validate_pcap.sh %s failed (see %s.log)", files[i], files[i]);
        }
    }
}

/* finetune --task generate: from a model pretrained without labels to a labelled corpus;
 * the label token gets a new embedding row, the rest starts from the pretrained weights
 * (so the first loss is far below a fresh model's). */
static double first_loss(const char *csv) {
    FILE *f = fopen(csv, "r");
    char line[512];
    double l = NAN;
    if (f && fgets(line, sizeof line, f) && fgets(line, sizeof line, f)) {
        long s; unsigned long long t; double lr;
        if (sscanf(line, "%ld,%llu,%lf,%lf", &s, &t, &lr, &l) != 4) l = NAN;
    }
    if (f) fclose(f);
    return l;
}

static void test_finetune_generate(void) {
    char un[256], lab[256], base[300], ft[300], fresh[300], csv[320];
    snprintf(un, sizeof un, "%s/ft_unlabelled", t_tmpdir());
    snprintf(lab, sizeof lab, "%s/gen_corpus", t_tmpdir());
    CHECK_EQ(make_corpus(un, 0), 0);
    CHECK_EQ(make_corpus(lab, 1), 0);
    snprintf(base, sizeof base, "%s/ft_base.ckpt", t_tmpdir());
    snprintf(ft, sizeof ft, "%s/ft_gen.ckpt", t_tmpdir());
    snprintf(fresh, sizeof fresh, "%s/ft_fresh.ckpt", t_tmpdir());
    pretrain_opts po;
    pretrain_defaults(&po);
    po.data_dir = un; po.out_path = base;
    po.cfg.layers = 1; po.cfg.d_model = 32; po.cfg.heads = 2; po.cfg.ctx = 96;
    po.batch = 8; po.steps = t_san() ? 10 : 60; po.lr = 1e-2f; po.warmup = 2; po.threads = 1; po.quiet = 1;
    CHECK_EQ(pretrain_run(&po), 0);
    pretrain_opts fo;
    pretrain_defaults(&fo);
    CHECK_EQ(finetune_gen_prepare(&fo, base), 0);
    CHECK_EQ(fo.cfg.ctx, 96);
    fo.data_dir = lab; fo.out_path = ft; fo.steps = 3; fo.threads = 1; fo.quiet = 1;
    int rc = finetune_gen_run(&fo);
    CHECKF(rc == 0, "%s", fo.err);
    model_config c;
    train_state st;
    uint64_t np;
    char err[256];
    CHECK_EQ(ckpt_peek(ft, &c, &st, &np, err, sizeof err), 0);
    CHECK_EQ(c.vocab, TOK_LABEL0 + 1);
    CHECK_EQ(c.layers, 1);
    CHECK_EQ(st.step, 3);
    /* the same 3 steps from scratch */
    pretrain_opts so = fo;
    so.init_path = NULL; so.out_path = fresh;
    CHECK_EQ(pretrain_run(&so), 0);
    snprintf(csv, sizeof csv, "%s/ft_gen.csv", t_tmpdir());
    double lf = first_loss(csv);
    snprintf(csv, sizeof csv, "%s/ft_fresh.csv", t_tmpdir());
    double ls = first_loss(csv);
    CHECKF(lf < ls - 0.5, "fine-tuned first loss %.3f vs fresh %.3f", lf, ls);
    /* no initial model: a clear error */
    pretrain_opts bad;
    pretrain_defaults(&bad);
    CHECK(finetune_gen_prepare(&bad, "/nonexistent.ckpt") != 0);
}

int main(void) {
    RUN(test_grammar);
    RUN(test_grammar_flow_identity);
    RUN(test_grammar_bigrams);
    RUN(test_grammar_bpe);
    RUN(test_decode_handmade);
    RUN(test_generate_tiny_model);
    RUN(test_finetune_generate);
    return t_done();
}
