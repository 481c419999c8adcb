/* Classification head (src/models/clshead.c, its backward src/train/clshead.c): gradients by
 * finite differences for every pooling, through the head alone and through a tiny GPT-2; rows;
 * classifier file round trip. */
#include "test.h"
#include "train/clshead.h"
#include "corpus/manifest.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <math.h>

enum { B = 3, T = 5, C = 6, K = 4 };

/* loss of the head on hidden states (pool + linear + weighted CE) */
static float head_loss(cls_head *h, const float *hidden, const int *len, const int *y, const float *cw) {
    cls_pool_forward(h->pooled, hidden, len, B, T, C, h->pooling);
    return cls_head_forward(h, h->pooled, y, cw, B);
}

static void test_head_fd(void) {
    const int len[B] = { 5, 2, 1 }, y[B] = { 1, 3, -1 };   /* the third row is not counted */
    const float cw[K] = { 1.0f, 2.0f, 0.5f, 1.5f };
    for (int pool = 0; pool < 3; pool++) {
        cls_head h;
        CHECK(cls_head_init(&h, C, K, pool, 7) == 0);
        CHECK(cls_head_alloc_batch(&h, B) == 0);
        uint64_t r = 3;
        for (size_t i = 0; i < h.nparams; i++) h.params[i] = (float)(rng_uniform(&r) - 0.5);
        float hidden[B * T * C], dhidden[B * T * C];
        for (int i = 0; i < B * T * C; i++) hidden[i] = (float)(rng_uniform(&r) * 2 - 1);
        cls_head_zero_grad(&h);
        head_loss(&h, hidden, len, y, cw);
        cls_head_backward(&h, h.pooled, y, cw, B);
        cls_pool_backward(dhidden, h.dpooled, len, B, T, C, pool);
        const double eps = 1e-2;
        double worst = 0;
        for (size_t i = 0; i < h.nparams; i++) {
            float keep = h.params[i];
            h.params[i] = keep + (float)eps; double lp = head_loss(&h, hidden, len, y, cw);
            h.params[i] = keep - (float)eps; double lm = head_loss(&h, hidden, len, y, cw);
            h.params[i] = keep;
            double fd = (lp - lm) / (2 * eps);
            worst = fmax(worst, fabs(fd - h.grads[i]));
        }
        for (int i = 0; i < B * T * C; i++) {
            float keep = hidden[i];
            hidden[i] = keep + (float)eps; double lp = head_loss(&h, hidden, len, y, cw);
            hidden[i] = keep - (float)eps; double lm = head_loss(&h, hidden, len, y, cw);
            hidden[i] = keep;
            worst = fmax(worst, fabs((lp - lm) / (2 * eps) - dhidden[i]));
        }
        CHECKF(worst < 2e-3, "pooling %s: worst |fd - analytic| %g", cls_pool_name(pool), worst);
        cls_head_free(&h);
    }
}

/* The whole path: tokens -> GPT-2 -> head, gradient of a few backbone weights. */
static void test_backbone_fd(void) {
    model m = { 0 };
    model_config c = { .arch = ARCH_GPT2, .vocab = 20, .ctx = T, .layers = 1, .d_model = 8, .heads = 2 };
    model_config_defaults(&c);
    char err[256];
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    model_init_weights(&m, 5);
    CHECK(model_alloc_training(&m) == 0 && model_alloc_acts(&m, B, T) == 0);
    cls_head h;
    cls_head_init(&h, 8, K, POOL_MEAN, 9);
    cls_head_alloc_batch(&h, B);
    int tok[B * T] = { 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 9, 0, 0, 0, 0 }, len[B] = { 5, 2, 1 }, y[B] = { 0, 2, 3 };
#define LOSS() (m.ops->forward(&m, tok, B, T), cls_pool_forward(h.pooled, m.hidden, len, B, T, 8, h.pooling), \
                cls_head_forward(&h, h.pooled, y, NULL, B))
    model_zero_grad(&m);
    LOSS();
    cls_head_zero_grad(&h);
    cls_head_backward(&h, h.pooled, y, NULL, B);
    cls_pool_backward(m.dhidden, h.dpooled, len, B, T, 8, h.pooling);
    m.ops->backward(&m, tok, B, T);
    double worst = 0, scale = 0;
    uint64_t r = 1;
    for (int k = 0; k < 40; k++) {
        size_t i = (size_t)(splitmix64(&r) % m.nparams);
        float keep = m.params[i];
        const double eps = 1e-2;
        m.params[i] = keep + (float)eps; double lp = LOSS();
        m.params[i] = keep - (float)eps; double lm = LOSS();
        m.params[i] = keep;
        worst = fmax(worst, fabs((lp - lm) / (2 * eps) - m.grads[i]));
        scale = fmax(scale, fabs(m.grads[i]));
    }
    CHECKF(worst < 2e-3 + 0.02 * scale, "backbone: worst |fd - analytic| %g (max grad %g)", worst, scale);
#undef LOSS
    cls_head_free(&h);
    model_free(&m);
}

/* Against PyTorch (tools/torch_ref/clshead_ref.py, float64): loss, probabilities and every
 * gradient for the three poolings. */
static void test_torch_ref(void) {
    FILE *f = fopen("tests/fixtures/clshead_ref.bin", "rb");
    if (!f) { CHECK(!"tests/fixtures/clshead_ref.bin missing (run from the repository root)"); return; }
    int32_t hd[5];
    CHECK(fread(hd, 4, 5, f) == 5 && hd[0] == 0x44484350);
    int b = hd[1], t = hd[2], c = hd[3], k = hd[4];
    int len[8], y[8];
    float cw[8], *hidden = malloc((size_t)b * t * c * 4), *dh = malloc((size_t)b * t * c * 4),
          *ref = malloc(((size_t)b * t * c + (size_t)k * c + 64) * 4);
    CHECK(b <= 8 && k <= 8);
    CHECK(fread(len, 4, (size_t)b, f) == (size_t)b && fread(y, 4, (size_t)b, f) == (size_t)b && fread(cw, 4, (size_t)k, f) == (size_t)k);
    CHECK(fread(hidden, 4, (size_t)b * t * c, f) == (size_t)b * t * c);
    cls_head h;
    cls_head_init(&h, c, k, POOL_MEAN, 1);
    cls_head_alloc_batch(&h, b);
    CHECK(fread(h.w, 4, (size_t)k * c, f) == (size_t)k * c && fread(h.b, 4, (size_t)k, f) == (size_t)k);
    for (int pool = 0; pool < 3; pool++) {
        h.pooling = pool;
        cls_head_zero_grad(&h);
        cls_pool_forward(h.pooled, hidden, len, b, t, c, pool);
        float loss = cls_head_forward(&h, h.pooled, y, cw, b);
        cls_head_backward(&h, h.pooled, y, cw, b);
        cls_pool_backward(dh, h.dpooled, len, b, t, c, pool);
        float rl;
        CHECK(fread(&rl, 4, 1, f) == 1);
        CHECK_NEAR(loss, rl, 1e-5);
        double worst = 0;
        size_t n[4] = { (size_t)b * k, (size_t)k * c, (size_t)k, (size_t)b * t * c };
        const float *mine[4] = { h.probs, h.gw, h.gb, dh };
        for (int a = 0; a < 4; a++) {
            CHECK(fread(ref, 4, n[a], f) == n[a]);
            for (size_t i = 0; i < n[a]; i++) worst = fmax(worst, fabs(mine[a][i] - ref[i]));
        }
        CHECKF(worst < 1e-5, "pooling %s: worst difference %g", cls_pool_name(pool), worst);
    }
    fclose(f);
    free(hidden); free(dh); free(ref);
    cls_head_free(&h);
}

/* Trimming the padding (cls_trim_rows, used by every training and prediction batch) changes
 * nothing: a causal backbone never lets position t read t' > t, and pooling stops at len. Same
 * probabilities and the same backbone gradients as the full padded rows, for every pooling. */
static void test_trim(void) {
    enum { TT = 12 };
    model m = { 0 };
    model_config c = { .arch = ARCH_GPT2, .vocab = 20, .ctx = TT, .layers = 2, .d_model = 8, .heads = 2 };
    model_config_defaults(&c);
    char err[256];
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    model_init_weights(&m, 11);
    CHECK(model_alloc_training(&m) == 0 && model_alloc_acts(&m, B, TT) == 0);
    const int len[B] = { 7, 3, 1 }, y[B] = { 0, 2, 3 };
    int full[B * TT], rows[B * TT];
    uint64_t r = 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < TT; t++) full[b * TT + t] = t < len[b] ? (int)(splitmix64(&r) % 19) : 19;
    /* trim moves each row's first Tb tokens together */
    memcpy(rows, full, sizeof rows);
    int Tb = cls_trim_rows(rows, len, B, TT);
    CHECK_EQ(Tb, 7);
    for (int b = 0; b < B; b++) CHECK(!memcmp(rows + b * Tb, full + b * TT, (size_t)Tb * sizeof(int)));
    float *g_full = malloc(m.nparams * sizeof(float));
    for (int pool = 0; pool < 3; pool++) {
        cls_head h;
        cls_head_init(&h, 8, K, pool, 9);
        cls_head_alloc_batch(&h, B);
        float p_full[B * K], p_trim[B * K];
        for (int pass = 0; pass < 2; pass++) {
            int Tr = TT;
            memcpy(rows, full, sizeof rows);
            if (pass) Tr = cls_trim_rows(rows, len, B, TT);
            m.training = 0;
            m.ops->forward(&m, rows, B, Tr);
            cls_pool_forward(h.pooled, m.hidden, len, B, Tr, 8, pool);
            cls_head_forward(&h, h.pooled, y, NULL, B);
            memcpy(pass ? p_trim : p_full, h.probs, sizeof p_full);
            model_zero_grad(&m);
            cls_head_zero_grad(&h);
            cls_head_backward(&h, h.pooled, y, NULL, B);
            cls_pool_backward(m.dhidden, h.dpooled, len, B, Tr, 8, pool);
            m.ops->backward(&m, rows, B, Tr);
            if (!pass) memcpy(g_full, m.grads, m.nparams * sizeof(float));
        }
        double dp = 0, dg = 0, gmax = 0;
        for (int i = 0; i < B * K; i++) dp = fmax(dp, fabs(p_full[i] - p_trim[i]));
        for (size_t i = 0; i < m.nparams; i++) { dg = fmax(dg, fabs(g_full[i] - m.grads[i])); gmax = fmax(gmax, fabs(g_full[i])); }
        CHECKF(dp < 1e-6, "pooling %s: probabilities differ by %g", cls_pool_name(pool), dp);
        CHECKF(dg < 1e-5 * (gmax + 1e-3), "pooling %s: gradients differ by %g (max %g)", cls_pool_name(pool), dg, gmax);
        /* cls_predict_batch trims too */
        memcpy(rows, full, sizeof rows);
        cls_predict_batch(&m, &h, rows, len, B, TT);
        dp = 0;
        for (int i = 0; i < B * K; i++) dp = fmax(dp, fabs(p_full[i] - h.probs[i]));
        CHECKF(dp < 1e-6, "cls_predict_batch, pooling %s: probabilities differ by %g", cls_pool_name(pool), dp);
        cls_head_free(&h);
    }
    /* nothing to trim: rows unchanged */
    const int flen[B] = { TT, 1, 2 };
    memcpy(rows, full, sizeof rows);
    CHECK_EQ(cls_trim_rows(rows, flen, B, TT), TT);
    CHECK(!memcmp(rows, full, sizeof rows));
    free(g_full);
    model_free(&m);
}

static void test_rows(void) {
    /* bos label | pkt dir time 1 2 | pkt dir time 3 | eos */
    tok_t s[] = { TOK_BOS, TOK_LABEL0 + 2, TOK_PKT, TOK_DIR_CS, TOK_TIME0, 1, 2, TOK_PKT, TOK_DIR_SC, TOK_TIME0 + 3, 3, TOK_EOS };
    int row[16];
    int L = cls_make_row(row, s, 12, 16, 0, tokfmt_get(TOKFMT_BYTES));
    CHECK_EQ(L, 11);                       /* eos dropped */
    CHECK_EQ(row[1], TOK_UNLABELLED);      /* label hidden */
    CHECK_EQ(row[11], TOK_PAD);
    CHECK_EQ(cls_make_row(row, s, 12, 16, 1, tokfmt_get(TOKFMT_BYTES)), 7);   /* after one packet */
    CHECK_EQ(cls_make_row(row, s, 12, 4, 0, tokfmt_get(TOKFMT_BYTES)), 4);    /* cut at T */
}

static void test_file(void) {
    model m = { 0 }, m2 = { 0 };
    model_config c = { .arch = ARCH_GPT2, .vocab = 360, .ctx = 8, .layers = 1, .d_model = 8, .heads = 2 };
    model_config_defaults(&c);
    char err[256], path[600];
    CHECK(model_create(&m, &c, err, sizeof err) == 0);
    model_init_weights(&m, 5);
    cls_head h, h2;
    cls_head_init(&h, 8, 3, POOL_LAST, 4);
    char *names[3] = { "a", "bb", "ccc" };
    cls_info info = { .K = 3, .pooling = POOL_LAST, .max_pkts = 4, .seq_len = 8, .names = names, .best_val_f1 = 0.5f };
    train_state st;
    memset(&st, 0, sizeof st);
    snprintf(path, sizeof path, "%s/c.ckpt", t_tmpdir());
    CHECK(cls_save(path, &m, &st, &h, &info, err, sizeof err) == 0);
    cls_info i2;
    CHECKF(cls_load(path, &m2, NULL, &h2, &i2, err, sizeof err) == 0, "%s", err);
    CHECK_EQ(i2.K, 3);
    CHECK(!strcmp(i2.names[2], "ccc"));
    CHECK_EQ(i2.max_pkts, 4);
    CHECK_EQ(h2.pooling, POOL_LAST);
    CHECK(!memcmp(h.params, h2.params, h.nparams * 4));
    CHECK(m2.nparams == m.nparams && !memcmp(m.params, m2.params, m.nparams * 4));
    CHECK_EQ(i2.prep_known, 0);              /* not recorded (as in files written before the slots): prep's defaults */
    CHECK_EQ(i2.prep.payload, 64); CHECK_EQ(i2.prep.max_bytes, 192); CHECK_EQ(i2.prep.anonymise, 1);
    cls_info_free(&i2); cls_head_free(&h2); model_free(&m2);
    /* the corpus's prep options round-trip through the header */
    info.prep_known = 1; info.prep_secret = 1;
    prep_cfg_default(&info.prep);
    info.prep.payload = 32; info.prep.max_bytes = 100; info.prep.max_pkts = 16; info.prep.min_flow_pkts = 2;
    info.prep.drop_dhcp = 0; info.prep.anon.addr = ANON_ADDR_RANDOM; info.prep.anon.ids = 0; info.prep.anon.mask_ports = 1;
    info.prep.anon.csum = ANON_CSUM_ZERO; info.prep.anon.scope = ANON_SCOPE_CAPTURE; info.prep.seed = 0x123456789abcull;
    info.prep.flows.tcp_timeout = 0.1; info.prep.flows.udp_timeout = 7.25;
    info.prep.ndrop_ports = 32; info.prep.ndrop_protos = 2;
    for (int i = 0; i < 32; i++) info.prep.drop_ports[i] = (uint16_t)(65535 - i);
    info.prep.drop_protos[0] = 1; info.prep.drop_protos[1] = 255;
    CHECK(cls_save(path, &m, &st, &h, &info, err, sizeof err) == 0);
    CHECKF(cls_load(path, &m2, NULL, &h2, &i2, err, sizeof err) == 0, "%s", err);
    char d[256];
    CHECK_EQ(i2.prep_known, 1); CHECK_EQ(i2.prep_secret, 1);
    CHECKF(prep_cfg_diff(&info.prep, &i2.prep, d, sizeof d) == 0, "%s", d);
    CHECK(i2.prep.seed == 0x123456789abcull && i2.prep.flows.tcp_timeout == 0.1 && i2.prep.drop_ports[31] == 65504);
    i2.prep.payload = 64;
    CHECK(prep_cfg_diff(&info.prep, &i2.prep, d, sizeof d) == 1 && !strcmp(d, "--payload 32 vs 64"));
    cls_info_free(&i2); cls_head_free(&h2); model_free(&m2);
    /* truncation detected */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END); long n = ftell(f); fclose(f);
    CHECK(truncate(path, n - 4) == 0);
    CHECK(cls_load(path, &m2, NULL, &h2, &i2, err, sizeof err) != 0);
    cls_head_free(&h); model_free(&m);
}

int main(void) {
    RUN(test_head_fd);
    RUN(test_backbone_fd);
    RUN(test_torch_ref);
    RUN(test_trim);
    RUN(test_rows);
    RUN(test_file);
    return t_done();
}
