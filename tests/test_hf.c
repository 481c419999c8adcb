/* Hugging Face weights in and out (src/models/hf.c, safetensors.c) against the PyTorch
 * reference (tools/torch_ref/hf_ref.py -> tests/fixtures/hf_*: tiny random GPT-2 and Qwen2
 * models in the hub's layout, with torch's logits): imported logits equal torch's to 1e-5;
 * the export holds the hub's tensors bit for bit (so torch's logits are the export's too);
 * import(export(M)) == M bit for bit for GPT-2 and Qwen2, tied and untied; damaged files and
 * configs that do not match give errors naming the file. */
#include "test.h"
#include "models/hf.h"
#include "models/safetensors.h"
#include "util/util.h"
#include <stdint.h>
#include <sys/stat.h>

typedef struct { int B, T, V; int *tok; float *logits; } ref;

static int load_ref(const char *dir, ref *r) {
    char p[512];
    snprintf(p, sizeof p, "%s/ref.bin", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    int32_t h[3];
    int ok = fread(h, 4, 3, f) == 3;
    r->B = h[0]; r->T = h[1]; r->V = h[2];
    size_t BT = (size_t)r->B * r->T;
    r->tok = malloc(BT * sizeof *r->tok);
    r->logits = malloc(BT * r->V * sizeof *r->logits);
    ok = ok && fread(r->tok, 4, BT, f) == BT && fread(r->logits, 4, BT * r->V, f) == BT * r->V && fgetc(f) == EOF;
    fclose(f);
    return ok ? 0 : -1;
}

/* import dir, run the reference tokens, compare with torch's logits */
static void check_logits(const char *dir, int arch, double tol) {
    ref r = { 0 };
    CHECK(load_ref(dir, &r) == 0);
    if (t_cur_fail) return;
    model m;
    hf_meta meta;
    char err[512] = "";
    int rc = hf_import(dir, &m, &meta, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (rc) return;
    CHECK_EQ(m.cfg.arch, arch);
    /* NetSSM's padded vocabulary: torch's logits have a column per embedding row, pktlm's one
     * per id of the real vocabulary (the first ones) */
    int V = m.cfg.vocab;
    CHECK(V == r.V || (arch == ARCH_MAMBA2 && V < r.V && r.V - V < 16));
    if (V > r.V) V = r.V;
    CHECK(model_alloc_acts(&m, r.B, r.T) == 0);
    model_forward(&m, r.tok, NULL, r.B, r.T);
    size_t BT = (size_t)r.B * r.T;
    float *got = malloc(BT * V * sizeof *got), *want = malloc(BT * V * sizeof *want);
    for (size_t i = 0; i < BT; i++) {
        memcpy(got + i * V, m.logits + i * m.cfg.vocab, V * sizeof *got);
        memcpy(want + i * V, r.logits + i * r.V, V * sizeof *want);
    }
    double e = rel_err(got, want, BT * V);
    free(got); free(want);
    printf("  %s: logits vs torch, largest difference / largest logit %.2e\n", dir, e);
    CHECKF(e <= tol, "%g > %g", e, tol);
    model_free(&m);
    free(r.tok); free(r.logits);
}

static void test_gpt2_logits(void) { check_logits("tests/fixtures/hf_gpt2", ARCH_GPT2, 1e-5); }
static void test_qwen2_logits(void) { check_logits("tests/fixtures/hf_qwen2", ARCH_QWEN2, 1e-5); }
static void test_qwen2_tied_logits(void) { check_logits("tests/fixtures/hf_qwen2_tied", ARCH_QWEN2, 1e-5); }
static void test_mamba2_logits(void) { check_logits("tests/fixtures/hf_mamba2", ARCH_MAMBA2, 1e-5); }
static void test_mamba2_transformers_logits(void) { check_logits("tests/fixtures/hf_mamba2_transformers", ARCH_MAMBA2, 1e-5); }
static void test_tcpflowgen_logits(void) { check_logits("tests/fixtures/hf_tcpflowgen", ARCH_LINATTN, 1e-5); }

static void test_gpt2_config(void) {
    model m;
    hf_meta meta;
    char err[512] = "";
    CHECKF(hf_import("tests/fixtures/hf_gpt2", &m, &meta, err, sizeof err) == 0, "%s", err);
    CHECK_EQ(m.cfg.layers, 2); CHECK_EQ(m.cfg.d_model, 32); CHECK_EQ(m.cfg.heads, 4); CHECK_EQ(m.cfg.ctx, 24);
    CHECK_EQ(m.cfg.d_ff, 128);   /* n_inner null: 4 n_embd */
    CHECK_EQ(m.cfg.tied, 1);
    CHECK_EQ(meta.bos_id, 49); CHECK_EQ(meta.eos_id, 49); CHECK_EQ(meta.pad_id, -1);
    CHECK_EQ(meta.nfiles, 1);
    CHECK_EQ(meta.file_tensors, 2 + 2 * 13 + 2);   /* 2 mask buffers among them, skipped */
    model_free(&m);
    /* one file given instead of the folder: config.json beside it */
    CHECKF(hf_import("tests/fixtures/hf_gpt2/model.safetensors", &m, &meta, err, sizeof err) == 0, "%s", err);
    model_free(&m);
}

/* The export of an imported hub model holds every hub tensor (prefixed "transformer." as
 * save_pretrained writes them) with the same shape and the same bytes: torch's logits of the
 * fixture are the export's logits. */
static void test_gpt2_export_is_hub(void) {
    model m;
    hf_meta meta;
    char err[512] = "", dir[512], p[600];
    CHECKF(hf_import("tests/fixtures/hf_gpt2", &m, &meta, err, sizeof err) == 0, "%s", err);
    snprintf(dir, sizeof dir, "%s/hf_gpt2_out", t_tmpdir());
    CHECKF(hf_export(&m, &meta, dir, err, sizeof err) == 0, "%s", err);
    st_file a, b;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECKF(st_open(&a, "tests/fixtures/hf_gpt2/model.safetensors", err, sizeof err) == 0, "%s", err);
    CHECKF(st_open(&b, p, err, sizeof err) == 0, "%s", err);
    int compared = 0;
    for (int i = 0; i < a.n; i++) {
        const st_tensor *x = &a.t[i];
        size_t n = strlen(x->name);
        if (n > 10 && !strcmp(x->name + n - 10, ".attn.bias")) continue;
        char name[160];
        snprintf(name, sizeof name, "transformer.%s", x->name);
        const st_tensor *y = st_find(&b, name);
        CHECKF(y != NULL, "%s missing from the export", name);
        if (!y) continue;
        CHECK_EQ(y->ndim, x->ndim);
        for (int d = 0; d < x->ndim; d++) CHECK_EQ(y->shape[d], x->shape[d]);
        float *u = malloc(x->numel * 4), *v = malloc(y->numel * 4);
        CHECK(st_read_f32(&a, x, u, err, sizeof err) == 0 && st_read_f32(&b, y, v, err, sizeof err) == 0);
        CHECKF(memcmp(u, v, x->numel * 4) == 0, "%s differs", name);
        free(u); free(v);
        compared++;
    }
    CHECK_EQ(compared, 2 + 2 * 12 + 2);
    CHECK_EQ(b.n, compared);
    st_close(&a); st_close(&b);
    model_free(&m);
}

/* import(export(M)) == M, bit for bit, config included */
static void roundtrip(model_config c, uint64_t seed, const char *name) {
    model m, m2;
    char err[512] = "", dir[512];
    CHECKF(model_create(&m, &c, err, sizeof err) == 0, "%s", err);
    model_init_weights(&m, seed);
    /* non-trivial norms and biases too */
    uint64_t r = seed ^ 77;
    for (size_t i = 0; i < m.nparams; i++) m.params[i] += 0.01f * nn_randn(&r);
    hf_meta meta = { .bos_id = 1, .eos_id = 2, .pad_id = 0 };
    snprintf(dir, sizeof dir, "%s/%s", t_tmpdir(), name);
    CHECKF(hf_export(&m, &meta, dir, err, sizeof err) == 0, "%s", err);
    /* pktlm's logits of the exported model, beside it: `hf_ref.py --check DIR` reloads the folder
     * with the torch reference and compares (run once; the test itself needs no torch) */
    {
        int B = 2, T = c.ctx < 12 ? c.ctx : 12, tok[24];
        uint64_t tr = seed;
        for (int i = 0; i < B * T; i++) tok[i] = (int)(splitmix64(&tr) % (uint64_t)c.vocab);
        CHECK(model_alloc_acts(&m, B, T) == 0);
        model_forward(&m, tok, NULL, B, T);
        char p[600];
        int32_t bt[2] = { B, T };
        snprintf(p, sizeof p, "%s/pktlm_tokens.bin", dir);
        FILE *f = fopen(p, "wb");
        fwrite(bt, 4, 2, f); fwrite(tok, 4, (size_t)B * T, f); fclose(f);
        snprintf(p, sizeof p, "%s/pktlm_logits.bin", dir);
        f = fopen(p, "wb");
        fwrite(m.logits, 4, (size_t)B * T * c.vocab, f); fclose(f);
    }
    hf_meta back;
    CHECKF(hf_import(dir, &m2, &back, err, sizeof err) == 0, "%s", err);
    if (t_cur_fail) return;
    CHECK(memcmp(&m.cfg, &m2.cfg, sizeof m.cfg) == 0);
    CHECK_EQ(m2.nparams, m.nparams);
    CHECK(memcmp(m.params, m2.params, m.nparams * 4) == 0);
    if (c.arch != ARCH_MAMBA2 && c.arch != ARCH_LINATTN) { CHECK_EQ(back.bos_id, 1); CHECK_EQ(back.eos_id, 2); }   /* MambaConfig and tcpflowgen have no token ids */
    model_free(&m); model_free(&m2);
}
static void test_roundtrip_gpt2(void) {
    model_config c = { .arch = ARCH_GPT2, .vocab = 37, .ctx = 19, .layers = 3, .d_model = 24, .heads = 3, .d_ff = 40 };
    roundtrip(c, 5, "rt_gpt2");
}
static void test_roundtrip_qwen2(void) {
    model_config c = { .arch = ARCH_QWEN2, .vocab = 41, .ctx = 50, .layers = 2, .d_model = 24, .heads = 6, .kv_heads = 2,
                       .d_ff = 36, .tied = 0, .rope_theta = 500000.0f, .norm_eps = 1e-5f };
    roundtrip(c, 6, "rt_qwen2");
    c.tied = 1; c.kv_heads = 3;
    roundtrip(c, 7, "rt_qwen2_tied");
}

static void test_roundtrip_mamba2(void) {
    /* vocabulary 40 (its embedding padded to 48 rows: pad_vocab_size_multiple 16, vocab_pad); the
     * context is not part of mamba_ssm's config, so an import gets HF_MAMBA2_CTX */
    model_config c = { .arch = ARCH_MAMBA2, .vocab = 40, .ctx = HF_MAMBA2_CTX, .layers = 2, .d_model = 16, .d_state = 4,
                       .d_conv = 3, .expand = 2, .head_dim = 8, .chunk = 8, .groups = 2, .tied = 1 };
    roundtrip(c, 8, "rt_mamba2");
    c.vocab = 48; c.groups = 1; c.d_conv = 4;
    roundtrip(c, 9, "rt_mamba2_16");
}

static void test_roundtrip_linattn(void) {
    model_config c = { .arch = ARCH_LINATTN, .vocab = 45, .ctx = 40, .layers = 2, .d_model = 24, .heads = 3, .d_ff = 40,
                       .dropout = 0.1f };
    roundtrip(c, 10, "rt_linattn");
}

/* NetSSM's files: the exported folder has mamba_ssm's config.json and state-dict names */
static void test_mamba2_export_is_netssm(void) {
    model m;
    hf_meta meta;
    char err[512] = "", dir[512];
    CHECKF(hf_import("tests/fixtures/hf_mamba2", &m, &meta, err, sizeof err) == 0, "%s", err);
    if (t_cur_fail) return;
    CHECK_EQ(m.cfg.vocab, 50);           /* the real vocabulary (logits), its embedding */
    CHECK_EQ(m.cfg.vocab_pad, 16);       /* padded to 64 rows by pad_vocab_size_multiple */
    CHECK_EQ(model_vocab_rows(&m.cfg), 64);
    CHECK_EQ(m.cfg.d_conv, 4);           /* Mamba2's default (absent from ssm_cfg) */
    CHECK_EQ(m.cfg.expand, 2);
    CHECK_EQ(m.cfg.chunk, 16);
    CHECK_EQ(m.cfg.ctx, HF_MAMBA2_CTX);
    CHECK_EQ(meta.bos_id, -1);
    snprintf(dir, sizeof dir, "%s/netssm_out", t_tmpdir());
    CHECKF(hf_export(&m, &meta, dir, err, sizeof err) == 0, "%s", err);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_file a, b;
    CHECKF(st_open(&a, p, err, sizeof err) == 0, "%s", err);
    CHECKF(st_open(&b, "tests/fixtures/hf_mamba2/model.safetensors", err, sizeof err) == 0, "%s", err);
    if (t_cur_fail) return;
    CHECK_EQ(a.n, b.n);   /* the same names (lm_head.weight included), shapes, values */
    for (int i = 0; i < a.n && i < b.n; i++) {
        const st_tensor *u = &a.t[i], *v = st_find(&b, u->name);
        CHECKF(v != NULL, "%s", u->name);
        if (!v) continue;
        CHECK(u->ndim == v->ndim && !memcmp(u->shape, v->shape, sizeof u->shape[0] * u->ndim));
        float *x = malloc(u->numel * 4), *y = malloc(v->numel * 4);
        CHECK(st_read_f32(&a, u, x, err, sizeof err) == 0 && st_read_f32(&b, v, y, err, sizeof err) == 0);
        CHECKF(memcmp(x, y, u->numel * 4) == 0, "%s", u->name);
        free(x); free(y);
    }
    st_close(&a); st_close(&b);
    model_free(&m);
}

/* transformers' own Mamba2 layout: imported with its config (no padding, one group), exported
 * back with --layout hf to the same tensors (plus the tied lm_head.weight), and read again to
 * the same model; a grouped model is not written in this layout */
static void test_mamba2_transformers_layout(void) {
    model m, m2;
    hf_meta meta, back;
    char err[512] = "", dir[512], p[600];
    const char *fx = "tests/fixtures/hf_mamba2_transformers";
    CHECKF(hf_import(fx, &m, &meta, err, sizeof err) == 0, "%s", err);
    if (t_cur_fail) return;
    CHECK(meta.mamba2_hf == 1);
    CHECK(m.cfg.vocab == 50 && m.cfg.vocab_pad == 1 && m.cfg.groups == 1 && m.cfg.head_dim == 16 && m.cfg.d_state == 8);
    CHECK(m.cfg.chunk == 16 && m.cfg.d_conv == 4 && m.cfg.ctx == HF_MAMBA2_CTX && m.cfg.tied == 1);
    CHECK(meta.bos_id == 0 && meta.eos_id == 2 && meta.pad_id == 1);
    snprintf(dir, sizeof dir, "%s/mamba2_tf_out", t_tmpdir());
    CHECKF(hf_export(&m, &meta, dir, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/config.json", dir);
    char cj[4096] = "";
    FILE *cf = fopen(p, "rb");
    if (cf) { cj[fread(cj, 1, sizeof cj - 1, cf)] = 0; fclose(cf); }
    CHECK(strstr(cj, "\"mamba2\"") && strstr(cj, "\"Mamba2ForCausalLM\"") && strstr(cj, "\"n_groups\"") && !strstr(cj, "pad_vocab"));
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_file a, b;
    CHECKF(st_open(&a, p, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/model.safetensors", fx);
    CHECKF(st_open(&b, p, err, sizeof err) == 0, "%s", err);
    if (t_cur_fail) return;
    CHECK_EQ(a.n, b.n + 1);   /* and lm_head.weight, the embedding again */
    for (int i = 0; i < a.n; i++) {
        const st_tensor *u = &a.t[i], *v = st_find(&b, strcmp(u->name, "lm_head.weight") ? u->name : "backbone.embeddings.weight");
        CHECKF(v != NULL, "%s", u->name);
        if (!v) continue;
        CHECK(u->ndim == v->ndim && !memcmp(u->shape, v->shape, sizeof u->shape[0] * u->ndim));
        float *x = malloc(u->numel * 4), *y = malloc(v->numel * 4);
        CHECK(st_read_f32(&a, u, x, err, sizeof err) == 0 && st_read_f32(&b, v, y, err, sizeof err) == 0);
        CHECKF(memcmp(x, y, u->numel * 4) == 0, "%s", u->name);
        free(x); free(y);
    }
    st_close(&a); st_close(&b);
    CHECKF(hf_import(dir, &m2, &back, err, sizeof err) == 0, "%s", err);
    if (!t_cur_fail) {
        CHECK(back.mamba2_hf == 1 && memcmp(&m.cfg, &m2.cfg, sizeof m.cfg) == 0);
        CHECK(m2.nparams == m.nparams && memcmp(m.params, m2.params, m.nparams * 4) == 0);
        model_free(&m2);
    }
    m.cfg.groups = 2;   /* (the shapes no longer matter: refused before) */
    CHECK(hf_export(&m, &meta, dir, err, sizeof err) == -1 && strstr(err, "whole inner width"));
    model_free(&m);
}

/* the QwenNet recipe's copy: the body bit for bit, a fresh embedding at the old one's scale;
 * without it the embedding's common rows (HF's resize_token_embeddings) */
static double rms_of(const float *p, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += (double)p[i] * p[i]; return sqrt(s / n); }
static void test_new_vocab_copy(void) {
    model_config c = { .arch = ARCH_QWEN2, .vocab = 41, .ctx = 16, .layers = 2, .d_model = 24, .heads = 6, .kv_heads = 2,
                       .d_ff = 36, .tied = 0, .rope_theta = 1e6f };
    model a, b;
    char err[256];
    CHECK(model_create(&a, &c, err, sizeof err) == 0);
    model_init_weights(&a, 3);
    for (size_t i = 0; i < (size_t)41 * 24; i++) a.params[i] *= 3;   /* an embedding at another scale */
    c.vocab = 30;
    CHECK(model_create(&b, &c, err, sizeof err) == 0);
    model_init_weights(&b, 4);
    CHECK_EQ(model_copy_weights(&b, &a, 1), b.ntensors);
    CHECK(b.cfg.rope_theta == 1e6f);
    for (int i = 0; i < b.ntensors; i++) {
        if (i == 0 || i == b.head) {
            double ra = rms_of(model_tensor(&a, i), a.spec[i].size), rb = rms_of(model_tensor(&b, i), b.spec[i].size);
            CHECKF(fabs(ra / rb - 1) < 1e-5, "tensor %d rms %g vs %g", i, rb, ra);
            CHECK(memcmp(model_tensor(&a, i), model_tensor(&b, i), 4 * 24) != 0);   /* fresh, not copied */
        } else CHECKF(memcmp(model_tensor(&a, i), model_tensor(&b, i), b.spec[i].size * 4) == 0, "tensor %d", i);
    }
    model_init_weights(&b, 4);
    CHECK_EQ(model_copy_weights(&b, &a, 0), b.ntensors);
    CHECK(memcmp(model_tensor(&a, 0), model_tensor(&b, 0), b.spec[0].size * 4) == 0);   /* rows 0..29 */
    model_free(&a); model_free(&b);
}

static void test_half_floats(void) {
    CHECK(st_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(st_bf16_to_f32(0xc040) == -3.0f);
    CHECK(st_f16_to_f32(0x3c00) == 1.0f);
    CHECK(st_f16_to_f32(0xc000) == -2.0f);
    CHECK(st_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(st_f16_to_f32(0x0001) == ldexpf(1, -24));   /* smallest subnormal */
    CHECK(st_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(isinf(st_f16_to_f32(0xfc00)) && st_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(st_f16_to_f32(0x7e00)));
    CHECK(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0);
}

/* ---- damaged safetensors files ---- */
static void write_st(const char *path, const char *json, size_t pad_to, size_t data_bytes, int64_t len_override) {
    FILE *f = fopen(path, "wb");
    size_t n = strlen(json), N = n > pad_to ? n : pad_to;
    uint8_t lb[8];
    uint64_t L = len_override >= 0 ? (uint64_t)len_override : N;
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)(L >> (8 * i));
    fwrite(lb, 1, 8, f);
    fwrite(json, 1, n, f);
    for (size_t i = n; i < N; i++) fputc(' ', f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
}
static void expect_bad(const char *json, size_t data_bytes, int64_t len_override, const char *want) {
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/bad.safetensors", t_tmpdir());
    write_st(path, json, 0, data_bytes, len_override);
    st_file s;
    int rc = st_open(&s, path, err, sizeof err);
    CHECKF(rc == -1, "accepted %s", json);
    if (rc == 0) { st_close(&s); return; }
    CHECKF(strstr(err, want) && strstr(err, "bad.safetensors"), "'%s' lacks '%s'", err, want);
}
static void test_bad_safetensors(void) {
    const char *two = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}";
    /* the good file first: it is read */
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/good.safetensors", t_tmpdir());
    write_st(path, two, 0, 16, -1);
    st_file s;
    CHECKF(st_open(&s, path, err, sizeof err) == 0, "%s", err);
    if (!t_cur_fail) {
        CHECK_EQ(s.n, 2);
        const st_tensor *b = st_find(&s, "b");
        CHECK(b && b->dtype == ST_BF16 && b->numel == 4 && b->ndim == 2);
        CHECK(st_find(&s, "c") == NULL);
        float v[4] = { 1, 1, 1, 1 };
        CHECK(b && st_read_f32(&s, b, v, err, sizeof err) == 0 && v[0] == 0 && v[3] == 0);
        st_close(&s);
    }
    expect_bad(two, 15, -1, "truncated");
    expect_bad(two, 17, -1, "trailing bytes");
    expect_bad(two, 16, 1000, "header length");
    expect_bad(two, 16, 300000000, "header length");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
               "\"data_offsets\":[12,20]}}", 20, -1, "a hole");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
               "\"data_offsets\":[4,12]}}", 12, -1, "overlaps");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1, "needs 12 bytes");
    expect_bad("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1, "unknown dtype");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, -1, "shape");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, -1, "begin <= end");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, -1, "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
               "\"data_offsets\":[8,16]}}", 16, -1, "twice");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, -1, "too large");
    expect_bad("{\"a\": [1, 2", 0, -1, "bad JSON");
    expect_bad("[]", 0, -1, "bad JSON");
    /* shorter than its own length field */
    snprintf(path, sizeof path, "%s/short.safetensors", t_tmpdir());
    FILE *f = fopen(path, "wb");
    fwrite("\x10\0\0", 1, 3, f);
    fclose(f);
    CHECK(st_open(&s, path, err, sizeof err) == -1 && strstr(err, "8-byte"));
}

/* ---- configs and tensors that do not match ---- */
static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int c;
    while ((c = getc(a)) != EOF) putc(c, b);
    fclose(a); fclose(b);
}
/* a copy of a fixture folder whose config.json has `from` replaced by `to` */
static const char *variant(const char *fixture, const char *from, const char *to) {
    static char dir[512];
    char p[600], q[600];
    snprintf(dir, sizeof dir, "%s/hf_variant", t_tmpdir());
    mkdir(dir, 0777);
    const char *extra[] = { "model.safetensors.index.json", "head.safetensors", "pytorch_model.bin" };
    for (int i = 0; i < 3; i++) { snprintf(q, sizeof q, "%s/%s", dir, extra[i]); unlink(q); }
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    snprintf(p, sizeof p, "%s/model.safetensors", fixture);
    copy_file(p, q);
    snprintf(p, sizeof p, "%s/config.json", fixture);
    FILE *f = fopen(p, "rb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char out[4096];
    char *at = strstr(buf, from);
    if (!at) { snprintf(out, sizeof out, "%s", buf); }
    else snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
    snprintf(p, sizeof p, "%s/config.json", dir);
    f = fopen(p, "wb");
    fputs(out, f);
    fclose(f);
    return dir;
}
static const char *gpt2_variant(const char *from, const char *to) { return variant("tests/fixtures/hf_gpt2", from, to); }
static const char *mamba2_variant(const char *from, const char *to) { return variant("tests/fixtures/hf_mamba2", from, to); }
static const char *tf_variant(const char *from, const char *to) { return variant("tests/fixtures/hf_mamba2_transformers", from, to); }
static void expect_import_error(const char *dir, const char *want) {
    model m;
    hf_meta meta;
    char err[512] = "";
    int rc = hf_import(dir, &m, &meta, err, sizeof err);
    CHECKF(rc == -1, "imported %s", dir);
    if (rc == 0) { model_free(&m); return; }
    CHECKF(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}
static void test_import_errors(void) {
    expect_import_error(gpt2_variant("\"n_inner\": null", "\"n_inner\": 64"), "config implies");
    expect_import_error(gpt2_variant("\"n_layer\": 2", "\"n_layer\": 3"), "missing tensor 'h.2.ln_1.weight'");
    expect_import_error(gpt2_variant("\"n_layer\": 2", "\"n_layer\": 1"), "is not part of a gpt2 model");
    expect_import_error(gpt2_variant("\"model_type\": \"gpt2\"", "\"model_type\": \"llama\""), "\"llama\" is not one pktlm imports");
    expect_import_error(gpt2_variant("\"gelu_new\"", "\"relu\""), "tanh GELU");
    expect_import_error(gpt2_variant("\"n_embd\": 32", "\"n_embd\": \"32\""), "\"n_embd\" must be a whole number");
    expect_import_error(gpt2_variant("\"n_embd\": 32,", ""), "\"n_embd\" is missing");
    expect_import_error(gpt2_variant("{", "{{"), "config.json: not a JSON object");
    expect_import_error("tests/fixtures/no_such_model", "no such file or folder");
    expect_import_error(mamba2_variant("\"layer\": \"Mamba2\"", "\"layer\": \"Mamba1\""), "Mamba-1 is not supported");
    expect_import_error(mamba2_variant("\"d_intermediate\": 0", "\"d_intermediate\": 64"), "has no MLP");
    expect_import_error(mamba2_variant("\"attn_layer_idx\": []", "\"attn_layer_idx\": [1]"), "hybrid attention");
    expect_import_error(mamba2_variant("\"tie_embeddings\": true", "\"tie_embeddings\": false"), "\"tie_embeddings\" must be true");
    expect_import_error(mamba2_variant("\"pad_vocab_size_multiple\": 16", "\"pad_vocab_size_multiple\": 8"),
                        "tensor 'backbone.embedding.weight' has shape [64, 32], the config implies [56, 32]");
    expect_import_error(mamba2_variant("\"headdim\": 16", "\"headdim\": 8"), "config implies");
    expect_import_error(mamba2_variant("\"n_layer\": 2", "\"n_layer\": 1"), "is not part of a mamba2 model");
    expect_import_error(mamba2_variant("\"ssm_cfg\": {", "\"ssm_cfg\": {\"dt_limit\": [0.0, 1.0], "), "dt_limit");
    /* transformers' Mamba2: what pktlm would compute differently is refused by name */
    expect_import_error(tf_variant("\"n_groups\": 1", "\"n_groups\": 2"), "n_groups 2: transformers' Mamba2 normalizes");
    expect_import_error(tf_variant("\"use_bias\": false", "\"use_bias\": true"), "\"use_bias\" must be false");
    expect_import_error(tf_variant("\"use_conv_bias\": true", "\"use_conv_bias\": false"), "\"use_conv_bias\" must be true");
    expect_import_error(tf_variant("\"use_cache\": true", "\"use_cache\": true, \"norm_before_gate\": true"),
                        "\"norm_before_gate\" must be false");
    expect_import_error(tf_variant("Infinity", "1.0"), "time_step_limit is not [0.0, Infinity]");
    expect_import_error(tf_variant("\"silu\"", "\"gelu\""), "hidden_act \"gelu\"");
    expect_import_error(tf_variant("\"num_heads\": 4", "\"num_heads\": 8"), "num_heads 8 x head_dim 16 is not expand 2 x hidden_size 32");
    expect_import_error(tf_variant("\"layer_norm_epsilon\": 1e-05", "\"layer_norm_epsilon\": 1e-06"), "layer_norm_epsilon 1e-06");
    expect_import_error(tf_variant("\"vocab_size\": 50", "\"vocab_size\": 64"), "tensor 'backbone.embeddings.weight' has shape [50, 32]");
    expect_import_error("tests/fixtures", "tests/fixtures/config.json: cannot open");
    char p0[600];
    const char *d0 = gpt2_variant("x", "x");
    snprintf(p0, sizeof p0, "%s/model.safetensors", d0);
    unlink(p0);
    expect_import_error(d0, "no model.safetensors or model.safetensors.index.json");
    snprintf(p0, sizeof p0, "%s/pytorch_model.bin", d0);
    CHECK(write_file_atomic(p0, "x", 1) == 0);
    expect_import_error(d0, "tools/torch_to_safetensors.py");
    unlink(p0);
    /* a tied head that is not the embedding */
    model m;
    hf_meta meta;
    char err[512] = "", p[600];
    const char *dir = gpt2_variant("x", "x");
    CHECK(hf_import(dir, &m, &meta, err, sizeof err) == 0);
    if (t_cur_fail) return;
    size_t np = 0;
    st_out o[2] = { { "wte.weight", 2, { m.cfg.vocab, m.cfg.d_model }, model_tensor(&m, 0) },
                    { "lm_head.weight", 2, { m.cfg.vocab, m.cfg.d_model }, model_tensor(&m, 1) } };
    (void)np;
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(p, "wb");
    fputs("{\"weight_map\": {\"a\": \"model.safetensors\", \"b\": \"head.safetensors\"}}", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/head.safetensors", dir);
    CHECK(st_write(p, &o[1], 1, NULL, 0, err, sizeof err) == 0);
    expect_import_error(dir, "differs from the embedding");
    o[1].data = model_tensor(&m, 0);   /* the same values: accepted */
    CHECK(st_write(p, &o[1], 1, NULL, 0, err, sizeof err) == 0);
    model m2;
    CHECKF(hf_import(dir, &m2, &meta, err, sizeof err) == 0, "%s", err);
    if (!t_cur_fail) { CHECK_EQ(meta.nfiles, 2); model_free(&m2); }
    /* the same tensor in two shards */
    CHECK(st_write(p, &o[0], 1, NULL, 0, err, sizeof err) == 0);
    expect_import_error(dir, "tensor 'wte.weight' is in two files");
    model_free(&m);
}

int main(void) {
    RUN(test_half_floats);
    RUN(test_bad_safetensors);
    RUN(test_gpt2_config);
    RUN(test_gpt2_logits);
    RUN(test_gpt2_export_is_hub);
    RUN(test_roundtrip_gpt2);
    RUN(test_roundtrip_qwen2);
    RUN(test_qwen2_logits);
    RUN(test_qwen2_tied_logits);
    RUN(test_mamba2_logits);
    RUN(test_roundtrip_mamba2);
    RUN(test_mamba2_export_is_netssm);
    RUN(test_mamba2_transformers_logits);
    RUN(test_mamba2_transformers_layout);
    RUN(test_tcpflowgen_logits);
    RUN(test_roundtrip_linattn);
    RUN(test_import_errors);
    RUN(test_new_vocab_copy);
    return t_done();
}
