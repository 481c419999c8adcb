/* Hugging Face folders in and out (hf.h). One table of "pieces" per backbone says where each
 * Hugging Face tensor lives in pktlm's tensor table; import reads through it, export writes
 * through it, so the two directions cannot disagree. */
#include "models/hf.h"
#include "models/safetensors.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One Hugging Face tensor: rows x cols as stored in the file (cols 0: a vector of rows; depth
 * > 0: a third dimension, rows x cols x depth, as Conv1d's (channels, 1, width)), placed at
 * float offset `at` of pktlm tensor `tensor`; transposed (Conv1D (in, out) -> (out, in)). */
typedef struct {
    char name[96];
    int tensor;
    int64_t rows, cols, depth;
    size_t at;
    int transpose;
} piece;

#define MAX_PIECES (16 * 1024 + 8)

static void add(piece *p, int *n, const model *m, const char *tname, size_t at, int64_t rows, int64_t cols, int tr,
                const char *fmt, int l) {
    piece *q = &p[(*n)++];
    snprintf(q->name, sizeof q->name, fmt, l);
    q->tensor = model_find_tensor(m, tname);
    q->rows = rows; q->cols = cols; q->depth = 0; q->at = at; q->transpose = tr;
}

/* GPT-2: names as GPT2Model writes them (import also accepts the "transformer." prefix). */
static int gpt2_pieces(const model *m, piece *p) {
    const model_config *c = &m->cfg;
    size_t C = c->d_model, F = c->d_ff;
    int n = 0;
    add(p, &n, m, "wte", 0, c->vocab, C, 0, "wte.weight", 0);
    add(p, &n, m, "wpe", 0, c->ctx, C, 0, "wpe.weight", 0);
    for (int l = 0; l < c->layers; l++) {
        add(p, &n, m, "h.ln_1.weight", l * C, C, 0, 0, "h.%d.ln_1.weight", l);
        add(p, &n, m, "h.ln_1.bias", l * C, C, 0, 0, "h.%d.ln_1.bias", l);
        add(p, &n, m, "h.attn.c_attn.weight", l * 3 * C * C, C, 3 * C, 1, "h.%d.attn.c_attn.weight", l);
        add(p, &n, m, "h.attn.c_attn.bias", l * 3 * C, 3 * C, 0, 0, "h.%d.attn.c_attn.bias", l);
        add(p, &n, m, "h.attn.c_proj.weight", l * C * C, C, C, 1, "h.%d.attn.c_proj.weight", l);
        add(p, &n, m, "h.attn.c_proj.bias", l * C, C, 0, 0, "h.%d.attn.c_proj.bias", l);
        add(p, &n, m, "h.ln_2.weight", l * C, C, 0, 0, "h.%d.ln_2.weight", l);
        add(p, &n, m, "h.ln_2.bias", l * C, C, 0, 0, "h.%d.ln_2.bias", l);
        add(p, &n, m, "h.mlp.c_fc.weight", l * F * C, C, F, 1, "h.%d.mlp.c_fc.weight", l);
        add(p, &n, m, "h.mlp.c_fc.bias", l * F, F, 0, 0, "h.%d.mlp.c_fc.bias", l);
        add(p, &n, m, "h.mlp.c_proj.weight", l * C * F, F, C, 1, "h.%d.mlp.c_proj.weight", l);
        add(p, &n, m, "h.mlp.c_proj.bias", l * C, C, 0, 0, "h.%d.mlp.c_proj.bias", l);
    }
    add(p, &n, m, "ln_f.weight", 0, C, 0, 0, "ln_f.weight", 0);
    add(p, &n, m, "ln_f.bias", 0, C, 0, 0, "ln_f.bias", 0);
    return n;
}

/* Qwen2: q, k, v stacked by rows into qkv_proj (D = C + 2 KC rows per layer), gate and up into
 * gate_up_proj (2F rows per layer). */
static int qwen2_pieces(const model *m, piece *p) {
    const model_config *c = &m->cfg;
    size_t C = c->d_model, KC = (size_t)c->kv_heads * (C / c->heads), D = C + 2 * KC, F = c->d_ff;
    int n = 0;
    add(p, &n, m, "embed_tokens", 0, c->vocab, C, 0, "model.embed_tokens.weight", 0);
    for (int l = 0; l < c->layers; l++) {
        size_t w = l * D * C, b = l * D, g = l * 2 * F * C;
        add(p, &n, m, "layers.input_layernorm.weight", l * C, C, 0, 0, "model.layers.%d.input_layernorm.weight", l);
        add(p, &n, m, "layers.self_attn.qkv_proj.weight", w, C, C, 0, "model.layers.%d.self_attn.q_proj.weight", l);
        add(p, &n, m, "layers.self_attn.qkv_proj.weight", w + C * C, KC, C, 0, "model.layers.%d.self_attn.k_proj.weight", l);
        add(p, &n, m, "layers.self_attn.qkv_proj.weight", w + (C + KC) * C, KC, C, 0, "model.layers.%d.self_attn.v_proj.weight", l);
        add(p, &n, m, "layers.self_attn.qkv_proj.bias", b, C, 0, 0, "model.layers.%d.self_attn.q_proj.bias", l);
        add(p, &n, m, "layers.self_attn.qkv_proj.bias", b + C, KC, 0, 0, "model.layers.%d.self_attn.k_proj.bias", l);
        add(p, &n, m, "layers.self_attn.qkv_proj.bias", b + C + KC, KC, 0, 0, "model.layers.%d.self_attn.v_proj.bias", l);
        add(p, &n, m, "layers.self_attn.o_proj.weight", l * C * C, C, C, 0, "model.layers.%d.self_attn.o_proj.weight", l);
        add(p, &n, m, "layers.post_attention_layernorm.weight", l * C, C, 0, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        add(p, &n, m, "layers.mlp.gate_up_proj.weight", g, F, C, 0, "model.layers.%d.mlp.gate_proj.weight", l);
        add(p, &n, m, "layers.mlp.gate_up_proj.weight", g + F * C, F, C, 0, "model.layers.%d.mlp.up_proj.weight", l);
        add(p, &n, m, "layers.mlp.down_proj.weight", l * C * F, C, F, 0, "model.layers.%d.mlp.down_proj.weight", l);
    }
    add(p, &n, m, "norm.weight", 0, C, 0, 0, "model.norm.weight", 0);
    if (!c->tied) add(p, &n, m, "lm_head.weight", 0, c->vocab, C, 0, "lm_head.weight", 0);
    return n;
}

/* Mamba-2 as mamba_ssm's MambaLMHeadModel saves it (NetSSM): the embedding's rows are the
 * vocabulary padded to pad_vocab_size_multiple (pktlm's vocab_pad: model_vocab_rows); conv1d's
 * weight is (conv_dim, 1, W), pktlm's (conv_dim, W) the same floats; the tied lm_head.weight
 * that torch's state dict repeats must equal the embedding (checked by the import). */
static int mamba2_pieces(const model *m, piece *p) {
    const model_config *c = &m->cfg;
    size_t C = c->d_model, Di = (size_t)c->expand * C, H = Di / c->head_dim, GN = (size_t)c->groups * c->d_state;
    size_t Cd = Di + 2 * GN, Dp = 2 * Di + 2 * GN + H, W = c->d_conv;
    int n = 0;
    add(p, &n, m, "embedding", 0, (int64_t)model_vocab_rows(c), C, 0, "backbone.embedding.weight", 0);
    for (int l = 0; l < c->layers; l++) {
        add(p, &n, m, "layers.norm.weight", l * C, C, 0, 0, "backbone.layers.%d.norm.weight", l);
        add(p, &n, m, "layers.mixer.in_proj.weight", l * Dp * C, Dp, C, 0, "backbone.layers.%d.mixer.in_proj.weight", l);
        add(p, &n, m, "layers.mixer.conv1d.weight", l * Cd * W, Cd, 1, 0, "backbone.layers.%d.mixer.conv1d.weight", l);
        p[n - 1].depth = (int64_t)W;
        add(p, &n, m, "layers.mixer.conv1d.bias", l * Cd, Cd, 0, 0, "backbone.layers.%d.mixer.conv1d.bias", l);
        add(p, &n, m, "layers.mixer.dt_bias", l * H, H, 0, 0, "backbone.layers.%d.mixer.dt_bias", l);
        add(p, &n, m, "layers.mixer.A_log", l * H, H, 0, 0, "backbone.layers.%d.mixer.A_log", l);
        add(p, &n, m, "layers.mixer.D", l * H, H, 0, 0, "backbone.layers.%d.mixer.D", l);
        add(p, &n, m, "layers.mixer.norm.weight", l * Di, Di, 0, 0, "backbone.layers.%d.mixer.norm.weight", l);
        add(p, &n, m, "layers.mixer.out_proj.weight", l * C * Di, C, Di, 0, "backbone.layers.%d.mixer.out_proj.weight", l);
    }
    add(p, &n, m, "norm_f.weight", 0, C, 0, 0, "backbone.norm_f.weight", 0);
    return n;
}

/* tcpflowgen's TCPHeaderTransformer state dict (model.py): q/k/v Linear rows joined into qkv,
 * output.0 the final LayerNorm, output.1 the untied biased head; torchtune's rotary buffers
 * carry no weights */
static int tcpflowgen_pieces(const model *m, piece *p) {
    const model_config *c = &m->cfg;
    size_t C = c->d_model, F = c->d_ff;
    int n = 0;
    add(p, &n, m, "embedding.weight", 0, c->vocab, C, 0, "embedding.weight", 0);
    for (int l = 0; l < c->layers; l++) {
        size_t w = l * 3 * C * C, b = l * 3 * C;
        add(p, &n, m, "layers.norm1.weight", l * C, C, 0, 0, "layers.%d.norm1.weight", l);
        add(p, &n, m, "layers.norm1.bias", l * C, C, 0, 0, "layers.%d.norm1.bias", l);
        add(p, &n, m, "layers.qkv.weight", w, C, C, 0, "layers.%d.q_proj.weight", l);
        add(p, &n, m, "layers.qkv.weight", w + C * C, C, C, 0, "layers.%d.k_proj.weight", l);
        add(p, &n, m, "layers.qkv.weight", w + 2 * C * C, C, C, 0, "layers.%d.v_proj.weight", l);
        add(p, &n, m, "layers.qkv.bias", b, C, 0, 0, "layers.%d.q_proj.bias", l);
        add(p, &n, m, "layers.qkv.bias", b + C, C, 0, 0, "layers.%d.k_proj.bias", l);
        add(p, &n, m, "layers.qkv.bias", b + 2 * C, C, 0, 0, "layers.%d.v_proj.bias", l);
        add(p, &n, m, "layers.norm2.weight", l * C, C, 0, 0, "layers.%d.norm2.weight", l);
        add(p, &n, m, "layers.norm2.bias", l * C, C, 0, 0, "layers.%d.norm2.bias", l);
        add(p, &n, m, "layers.linear1.weight", l * F * C, F, C, 0, "layers.%d.linear1.weight", l);
        add(p, &n, m, "layers.linear1.bias", l * F, F, 0, 0, "layers.%d.linear1.bias", l);
        add(p, &n, m, "layers.linear2.weight", l * C * F, C, F, 0, "layers.%d.linear2.weight", l);
        add(p, &n, m, "layers.linear2.bias", l * C, C, 0, 0, "layers.%d.linear2.bias", l);
    }
    add(p, &n, m, "norm.weight", 0, C, 0, 0, "output.0.weight", 0);
    add(p, &n, m, "norm.bias", 0, C, 0, 0, "output.0.bias", 0);
    add(p, &n, m, "lm_head.weight", 0, c->vocab, C, 0, "output.1.weight", 0);
    add(p, &n, m, "lm_head.bias", 0, c->vocab, 0, 0, "output.1.bias", 0);
    return n;
}

static int pieces_of(const model *m, piece *p) {
    if (m->cfg.arch == ARCH_LINATTN) return tcpflowgen_pieces(m, p);
    if (m->cfg.arch == ARCH_GPT2) return gpt2_pieces(m, p);
    if (m->cfg.arch == ARCH_QWEN2) return qwen2_pieces(m, p);
    if (m->cfg.arch == ARCH_MAMBA2) return mamba2_pieces(m, p);
    return -1;
}

/* ---- config.json ---- */

static char *slurp(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t k;
    while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            if (cap >= (size_t)1 << 30) { free(b); b = NULL; break; }   /* no config is a gigabyte */
            char *nb = realloc(b, 2 * cap + 1);
            if (!nb) { free(b); b = NULL; break; }
            b = nb; cap *= 2;
        }
    }
    fclose(f);
    if (!b) { snprintf(err, errlen, "%s: too large or out of memory", path); return NULL; }
    b[n] = 0;
    if (len) *len = n;
    return b;
}

/* Python's json module writes float("inf") as Infinity (transformers' Mamba2Config:
 * "time_step_limit": [0.0, Infinity]), which is not JSON: outside strings it becomes 1e999
 * (read as inf), padded to the same length */
static void python_infinity(char *b, size_t n) {
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_str) { if (b[i] == '\\') i++; else if (b[i] == '"') in_str = 0; continue; }
        if (b[i] == '"') { in_str = 1; continue; }
        if (n - i >= 8 && !memcmp(b + i, "Infinity", 8)) { memcpy(b + i, "1e999   ", 8); i += 7; }
    }
}

static cJSON *read_json(const char *path, char *err, size_t errlen) {
    size_t n;
    char *b = slurp(path, &n, err, errlen);
    if (!b) return NULL;
    python_infinity(b, n);
    const char *where = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(b, n, &where, 0);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errlen, "%s: not a JSON object (error near byte offset %zu)", path,
                 where && where >= b && where <= b + n ? (size_t)(where - b) : (size_t)0);
        cJSON_Delete(j); j = NULL;
    }
    free(b);
    return j;
}

/* An integer field: required (def < 0) or def when absent/null. 0 ok, -1 err. */
static int get_int(const cJSON *j, const char *path, const char *key, long def, long lo, long hi, int32_t *out, char *err,
                   size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0 && def != -2) { snprintf(err, errlen, "%s: \"%s\" is missing", path, key); return -1; }
        *out = def == -2 ? -1 : (int32_t)def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi) {
        snprintf(err, errlen, "%s: \"%s\" must be a whole number in %ld..%ld", path, key, lo, hi);
        return -1;
    }
    *out = (int32_t)v->valuedouble;
    return 0;
}
static double get_num(const cJSON *j, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}
static const char *get_str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int get_bool(const cJSON *j, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* A boolean field that must have one value (absent: the library's default, which is that value) */
static int must_be(const cJSON *j, const char *path, const char *key, int want, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsBool(v) && cJSON_IsTrue(v) == want)) return 0;
    snprintf(err, errlen, "%s: \"%s\" must be %s for pktlm's Mamba-2", path, key, want ? "true" : "false");
    return -1;
}

/* mamba_ssm's MambaConfig (mamba_ssm/models/config_mamba.py) as NetSSM writes it: d_model,
 * n_layer, vocab_size, pad_vocab_size_multiple, ssm_cfg {"layer": "Mamba2", d_state, d_conv,
 * expand, headdim, ngroups, chunk_size: Mamba2's defaults when absent}, no MLP, no attention
 * layers, RMSNorm, tied embedding. The vocabulary is padded up as MambaLMHeadModel pads it. */
static int parse_mamba_ssm(const cJSON *j, const char *path, model_config *c, char *err, size_t errlen) {
    const long BIG = 1L << 30;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "ssm_cfg");
    const char *layer = get_str(s, "layer");
    if (!layer || strcmp(layer, "Mamba2")) {
        snprintf(err, errlen, "%s: ssm_cfg.layer \"%s\": pktlm's backbone is Mamba2 (Mamba-1 is not supported)", path,
                 layer ? layer : "Mamba1 (the default)");
        return -1;
    }
    c->arch = ARCH_MAMBA2;
    int32_t dint, pad, dssm;
    if (get_int(j, path, "d_model", -1, 1, BIG, &c->d_model, err, errlen) || get_int(j, path, "n_layer", -1, 1, BIG, &c->layers, err, errlen) ||
        get_int(j, path, "vocab_size", -1, 1, BIG, &c->vocab, err, errlen) ||
        get_int(j, path, "pad_vocab_size_multiple", 8, 1, BIG, &pad, err, errlen) ||
        get_int(j, path, "d_intermediate", 0, 0, BIG, &dint, err, errlen) ||
        get_int(s, path, "d_state", 128, 1, BIG, &c->d_state, err, errlen) || get_int(s, path, "d_conv", 4, 1, BIG, &c->d_conv, err, errlen) ||
        get_int(s, path, "expand", 2, 1, BIG, &c->expand, err, errlen) || get_int(s, path, "headdim", 64, 1, BIG, &c->head_dim, err, errlen) ||
        get_int(s, path, "ngroups", 1, 1, BIG, &c->groups, err, errlen) || get_int(s, path, "chunk_size", 256, 1, BIG, &c->chunk, err, errlen) ||
        get_int(s, path, "d_ssm", -2, 1, BIG, &dssm, err, errlen))
        return -1;
    if (dint) { snprintf(err, errlen, "%s: d_intermediate %d: pktlm's Mamba-2 has no MLP (NetSSM: 0)", path, dint); return -1; }
    if (dssm >= 0 && dssm != c->expand * c->d_model) {
        snprintf(err, errlen, "%s: ssm_cfg.d_ssm %d: a gated MLP beside the SSM is not supported", path, dssm);
        return -1;
    }
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(j, "attn_layer_idx");
    if (cJSON_GetArraySize(att) > 0) { snprintf(err, errlen, "%s: attn_layer_idx is not empty: hybrid attention layers are not supported", path); return -1; }
    if (must_be(j, path, "rms_norm", 1, err, errlen) || must_be(j, path, "tie_embeddings", 1, err, errlen) ||
        must_be(s, path, "rmsnorm", 1, err, errlen) || must_be(s, path, "norm_before_gate", 0, err, errlen) ||
        must_be(s, path, "D_has_hdim", 0, err, errlen) || must_be(s, path, "bias", 0, err, errlen) ||
        must_be(s, path, "conv_bias", 1, err, errlen))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(s, "dt_limit")) {
        snprintf(err, errlen, "%s: ssm_cfg.dt_limit is set: pktlm's Mamba-2 does not clamp dt", path);
        return -1;
    }
    c->vocab_pad = pad;   /* the embedding's rows: vocab_size padded up (model_vocab_rows), as MambaLMHeadModel pads it */
    c->tied = 1;
    c->ctx = HF_MAMBA2_CTX;   /* a recurrent model has no context length; import --ctx sets it */
    return 0;
}

/* transformers' Mamba2Config (models/mamba2/configuration_mamba2.py) for Mamba2ForCausalLM: the
 * same mixer as mamba_ssm's (in_proj rows z | x B C | dt, depthwise conv with bias, dt_bias,
 * A_log, D, gated RMSNorm with the gate before the norm, out_proj), no vocabulary padding. What
 * pktlm's Mamba-2 would compute differently is refused by name. */
static int parse_hf_mamba2(const cJSON *j, const char *path, model_config *c, char *err, size_t errlen) {
    const long BIG = 1L << 30;
    c->arch = ARCH_MAMBA2;
    int32_t nh;
    if (get_int(j, path, "hidden_size", -1, 1, BIG, &c->d_model, err, errlen) ||
        get_int(j, path, "num_hidden_layers", -1, 1, BIG, &c->layers, err, errlen) ||
        get_int(j, path, "vocab_size", -1, 1, BIG, &c->vocab, err, errlen) ||
        get_int(j, path, "state_size", 128, 1, BIG, &c->d_state, err, errlen) || get_int(j, path, "expand", 2, 1, BIG, &c->expand, err, errlen) ||
        get_int(j, path, "head_dim", 64, 1, BIG, &c->head_dim, err, errlen) || get_int(j, path, "num_heads", 128, 1, BIG, &nh, err, errlen) ||
        get_int(j, path, "n_groups", 8, 1, BIG, &c->groups, err, errlen) || get_int(j, path, "conv_kernel", 4, 1, BIG, &c->d_conv, err, errlen) ||
        get_int(j, path, "chunk_size", 256, 1, BIG, &c->chunk, err, errlen))
        return -1;
    if ((long)nh * c->head_dim != (long)c->expand * c->d_model) {
        snprintf(err, errlen, "%s: num_heads %d x head_dim %d is not expand %d x hidden_size %d: its tensors would not fit "
                 "together", path, nh, c->head_dim, c->expand, c->d_model);
        return -1;
    }
    if (c->groups > 1) {
        snprintf(err, errlen, "%s: n_groups %d: transformers' Mamba2 normalizes the gated output over the whole inner width, "
                 "mamba_ssm and pktlm over each group; the two agree only for n_groups 1 (for a model trained with mamba_ssm, "
                 "import its own config and weights)", path, c->groups);
        return -1;
    }
    const char *act = get_str(j, "hidden_act");
    if (act && strcmp(act, "silu") && strcmp(act, "swish")) {
        snprintf(err, errlen, "%s: hidden_act \"%s\": pktlm's Mamba-2 uses silu", path, act);
        return -1;
    }
    double eps = get_num(j, "layer_norm_epsilon", 1e-5);
    if (fabs(eps - 1e-5) > 1e-12) { snprintf(err, errlen, "%s: layer_norm_epsilon %g: pktlm's Mamba-2 norms use 1e-5", path, eps); return -1; }
    if (must_be(j, path, "use_bias", 0, err, errlen) || must_be(j, path, "use_conv_bias", 1, err, errlen) ||
        must_be(j, path, "norm_before_gate", 0, err, errlen))
        return -1;
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(j, "time_step_limit");
    if (lim && !cJSON_IsNull(lim)) {
        const cJSON *lo = cJSON_GetArrayItem(lim, 0), *hi = cJSON_GetArrayItem(lim, 1);
        if (cJSON_GetArraySize(lim) != 2 || !cJSON_IsNumber(lo) || lo->valuedouble > 0 || !cJSON_IsNumber(hi) || !isinf(hi->valuedouble)) {
            snprintf(err, errlen, "%s: time_step_limit is not [0.0, Infinity]: pktlm's Mamba-2 does not clamp dt", path);
            return -1;
        }
    }
    c->vocab_pad = 1;          /* the embedding has vocab_size rows */
    c->tied = 1;               /* a saved lm_head.weight must equal the embedding (hf_import) */
    c->ctx = HF_MAMBA2_CTX;
    return 0;
}

/* config.json -> model_config + meta. 0 ok, -1 err. */
static int parse_config(const cJSON *j, const char *path, model_config *c, hf_meta *meta, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    const char *mt = get_str(j, "model_type");
    if (!mt) {   /* very old configs: the class name only */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "architectures");
        const char *a0 = cJSON_IsArray(a) && cJSON_IsString(a->child) ? a->child->valuestring : "";
        mt = !strncmp(a0, "GPT2", 4) ? "gpt2" : !strncmp(a0, "Qwen2", 5) ? "qwen2" : NULL;
        /* mamba_ssm's MambaConfig (NetSSM) has neither: its ssm_cfg says what it is */
        if (!mt && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "ssm_cfg"))) mt = "mamba_ssm";
    }
    if (!mt) { snprintf(err, errlen, "%s: no \"model_type\" (pktlm imports gpt2, qwen2 and mamba_ssm's Mamba-2)", path); return -1; }
    const long BIG = 1L << 30;
    int32_t bos, eos, pad;
    if (get_int(j, path, "bos_token_id", -2, 0, BIG, &bos, err, errlen) || get_int(j, path, "eos_token_id", -2, 0, BIG, &eos, err, errlen) ||
        get_int(j, path, "pad_token_id", -2, 0, BIG, &pad, err, errlen))
        return -1;
    meta->bos_id = bos; meta->eos_id = eos; meta->pad_id = pad;
    if (!strcmp(mt, "gpt2")) {
        c->arch = ARCH_GPT2;
        if (get_int(j, path, "vocab_size", -1, 1, BIG, &c->vocab, err, errlen) ||
            get_int(j, path, "n_positions", -1, 1, BIG, &c->ctx, err, errlen) ||
            get_int(j, path, "n_embd", -1, 1, BIG, &c->d_model, err, errlen) ||
            get_int(j, path, "n_layer", -1, 1, BIG, &c->layers, err, errlen) ||
            get_int(j, path, "n_head", -1, 1, BIG, &c->heads, err, errlen) ||
            get_int(j, path, "n_inner", 0, 1, BIG, &c->d_ff, err, errlen))
            return -1;
        const char *act = get_str(j, "activation_function");
        if (act && strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh")) {
            snprintf(err, errlen, "%s: activation_function \"%s\": pktlm's GPT-2 uses the tanh GELU (gelu_new)", path, act);
            return -1;
        }
        double eps = get_num(j, "layer_norm_epsilon", 1e-5);
        if (fabs(eps - 1e-5) > 1e-12) {
            snprintf(err, errlen, "%s: layer_norm_epsilon %g: pktlm's GPT-2 LayerNorm uses 1e-5", path, eps);
            return -1;
        }
        if (get_bool(j, "scale_attn_by_inverse_layer_idx", 0) || !get_bool(j, "scale_attn_weights", 1)) {
            snprintf(err, errlen, "%s: attention scaling other than 1/sqrt(head size) is not supported", path);
            return -1;
        }
        if (!get_bool(j, "tie_word_embeddings", 1)) {
            snprintf(err, errlen, "%s: tie_word_embeddings false: pktlm's GPT-2 ties the LM head to wte", path);
            return -1;
        }
        c->tied = 1;
        c->dropout = 0;
    } else if (!strcmp(mt, "qwen2")) {
        c->arch = ARCH_QWEN2;
        if (get_int(j, path, "vocab_size", -1, 1, BIG, &c->vocab, err, errlen) ||
            get_int(j, path, "max_position_embeddings", -1, 1, BIG, &c->ctx, err, errlen) ||
            get_int(j, path, "hidden_size", -1, 1, BIG, &c->d_model, err, errlen) ||
            get_int(j, path, "num_hidden_layers", -1, 1, BIG, &c->layers, err, errlen) ||
            get_int(j, path, "num_attention_heads", -1, 1, BIG, &c->heads, err, errlen) ||
            get_int(j, path, "intermediate_size", -1, 1, BIG, &c->d_ff, err, errlen) ||
            get_int(j, path, "num_key_value_heads", 0, 1, BIG, &c->kv_heads, err, errlen))
            return -1;
        if (!c->kv_heads) c->kv_heads = c->heads;
        int32_t hd;
        if (get_int(j, path, "head_dim", 0, 1, BIG, &hd, err, errlen)) return -1;
        if (hd && hd * c->heads != c->d_model) {
            snprintf(err, errlen, "%s: head_dim %d x %d heads is not hidden_size %d (pktlm needs head size = hidden / heads)", path,
                     hd, c->heads, c->d_model);
            return -1;
        }
        const char *act = get_str(j, "hidden_act");
        if (act && strcmp(act, "silu")) { snprintf(err, errlen, "%s: hidden_act \"%s\": pktlm's Qwen2 uses silu", path, act); return -1; }
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
        if (rs && !cJSON_IsNull(rs)) { snprintf(err, errlen, "%s: rope_scaling is set: pktlm implements plain RoPE only", path); return -1; }
        if (get_bool(j, "use_sliding_window", 0)) {
            snprintf(err, errlen, "%s: use_sliding_window true: pktlm's Qwen2 attends to the whole context", path);
            return -1;
        }
        c->tied = get_bool(j, "tie_word_embeddings", 0);
        /* out-of-range values are the backbone check's to report */
        c->rope_theta = (float)get_num(j, "rope_theta", 10000.0);
        c->norm_eps = (float)get_num(j, "rms_norm_eps", 1e-6);
    } else if (!strcmp(mt, "tcpflowgen")) {
        /* tools/torch_to_safetensors.py's config.json of a tcpflowgen checkpoint (its config dict) */
        c->arch = ARCH_LINATTN;
        if (get_int(j, path, "vocab_size", -1, 1, BIG, &c->vocab, err, errlen) || get_int(j, path, "d_model", -1, 1, BIG, &c->d_model, err, errlen) ||
            get_int(j, path, "nhead", -1, 1, BIG, &c->heads, err, errlen) || get_int(j, path, "num_layers", -1, 1, BIG, &c->layers, err, errlen) ||
            get_int(j, path, "dim_feedforward", -1, 1, BIG, &c->d_ff, err, errlen) ||
            get_int(j, path, "context_length", 1024, 1, BIG, &c->ctx, err, errlen))
            return -1;
        c->kv_heads = c->heads;
        double d = get_num(j, "dropout", 0.1);
        c->dropout = d >= 0 && d < 1 ? (float)d : 0.1f;
    } else if (!strcmp(mt, "mamba_ssm")) {
        if (parse_mamba_ssm(j, path, c, err, errlen)) return -1;
    } else if (!strcmp(mt, "mamba2")) {
        if (parse_hf_mamba2(j, path, c, err, errlen)) return -1;
        meta->mamba2_hf = 1;
    } else {
        snprintf(err, errlen, "%s: model_type \"%s\" is not one pktlm imports (gpt2, qwen2, mamba2, mamba_ssm's Mamba-2, tcpflowgen)", path, mt);
        return -1;
    }
    return 0;
}

/* ---- import ---- */

typedef struct { st_file f; unsigned char *used; } shard_file;

static int is_dir(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }
static int is_file(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISREG(sb.st_mode); }

/* The safetensors files of a folder: the index's weight_map values, or model.safetensors. */
static int list_files(const char *dir, char ***names, int *n, char *err, size_t errlen) {
    char path[4096 + 64];
    *names = NULL; *n = 0;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (is_file(path)) {
        cJSON *j = read_json(path, err, errlen);
        if (!j) return -1;
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
        if (!cJSON_IsObject(wm)) { snprintf(err, errlen, "%s: no \"weight_map\" object", path); cJSON_Delete(j); return -1; }
        int cap = cJSON_GetArraySize(wm);
        *names = calloc(cap ? (size_t)cap : 1, sizeof **names);
        for (const cJSON *e = wm->child; *names && e; e = e->next) {
            if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
                snprintf(err, errlen, "%s: weight_map entry '%s' is not a file name in the folder", path, e->string);
                cJSON_Delete(j); return -1;
            }
            int seen = 0;
            for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*names)[i], e->valuestring);
            if (!seen) (*names)[(*n)++] = strdup(e->valuestring);
        }
        cJSON_Delete(j);
        if (!*n) { snprintf(err, errlen, "%s: weight_map is empty", path); return -1; }
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (is_file(path)) {
        *names = calloc(1, sizeof **names);
        (*names)[0] = strdup("model.safetensors");
        *n = 1;
        return 0;
    }
    snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
    if (is_file(path))
        snprintf(err, errlen, "%s: a PyTorch pickle; convert it first: /usr/bin/python3 tools/torch_to_safetensors.py %s", path, dir);
    else
        snprintf(err, errlen, "%s: no model.safetensors or model.safetensors.index.json", dir);
    return -1;
}

/* tensors that are not parameters: GPT-2's causal-mask buffers, rotary frequency caches */
static int is_buffer(const char *name) {
    size_t n = strlen(name);
    static const char *suf[] = { ".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq", ".rotary_emb.cache", ".rotary_emb.theta" };
    for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++) {
        size_t k = strlen(suf[i]);
        if (n > k && !strcmp(name + n - k, suf[i])) return 1;
    }
    return 0;
}

/* find a piece's tensor under its name, with "transformer." added, or "model." removed; mamba_ssm's
 * backbone.embedding is transformers' backbone.embeddings (Mamba2Model reads either) */
static int find_piece(shard_file *sf, int nf, const char *name, int *fi, const st_tensor **t) {
    char alt[4][128];
    int na = 0;
    snprintf(alt[na++], sizeof alt[0], "%s", name);
    snprintf(alt[na++], sizeof alt[0], "transformer.%s", name);
    if (!strncmp(name, "model.", 6)) snprintf(alt[na++], sizeof alt[0], "%s", name + 6);
    if (!strcmp(name, "backbone.embedding.weight")) snprintf(alt[na++], sizeof alt[0], "backbone.embeddings.weight");
    for (int a = 0; a < na; a++)
        for (int i = 0; i < nf; i++)
            if ((*t = st_find(&sf[i].f, alt[a]))) { *fi = i; return 0; }
    return -1;
}

static int shape_is(const st_tensor *t, int64_t rows, int64_t cols, int64_t depth) {
    if (cols == 0) return t->ndim == 1 && t->shape[0] == rows;
    if (depth) return t->ndim == 3 && t->shape[0] == rows && t->shape[1] == cols && t->shape[2] == depth;
    return t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
}

static int read_piece(const char *dir, shard_file *sf, int nf, const piece *p, float *dst, char *err, size_t errlen) {
    int fi;
    const st_tensor *t;
    if (find_piece(sf, nf, p->name, &fi, &t)) {
        snprintf(err, errlen, "%s: missing tensor '%s' (in %d safetensors file%s)", dir, p->name, nf, nf == 1 ? "" : "s");
        return -1;
    }
    if (!shape_is(t, p->rows, p->cols, p->depth)) {
        char got[160], want[160];
        int64_t w[3] = { p->rows, p->cols, p->depth };
        st_shape_str(got, sizeof got, t->shape, t->ndim);
        st_shape_str(want, sizeof want, w, p->depth ? 3 : p->cols ? 2 : 1);
        snprintf(err, errlen, "%s: tensor '%s' has shape %s, the config implies %s", sf[fi].f.path, t->name, got, want);
        return -1;
    }
    sf[fi].used[t - sf[fi].f.t] = 1;
    if (!p->transpose) return st_read_f32(&sf[fi].f, t, dst, err, errlen);
    float *tmp = malloc(t->numel * sizeof *tmp);
    if (!tmp) { snprintf(err, errlen, "out of memory for tensor '%s'", t->name); return -1; }
    if (st_read_f32(&sf[fi].f, t, tmp, err, errlen)) { free(tmp); return -1; }
    for (int64_t i = 0; i < p->rows; i++)
        for (int64_t j = 0; j < p->cols; j++) dst[j * p->rows + i] = tmp[i * p->cols + j];
    free(tmp);
    return 0;
}

int hf_import(const char *src, model *m, hf_meta *meta, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    memset(meta, 0, sizeof *meta);
    char dir[4096], path[4096 + 64];
    const char *one = NULL;   /* a single .safetensors file given */
    if (is_dir(src)) snprintf(dir, sizeof dir, "%s", src);
    else if (is_file(src)) {
        snprintf(dir, sizeof dir, "%s", src);
        char *s = strrchr(dir, '/');
        if (s) *s = 0; else snprintf(dir, sizeof dir, ".");
        one = src;
    } else { snprintf(err, errlen, "%s: no such file or folder", src); return -1; }
    snprintf(path, sizeof path, "%s/config.json", dir);
    cJSON *j = read_json(path, err, errlen);
    if (!j) return -1;
    model_config c;
    int rc = parse_config(j, path, &c, meta, err, errlen);
    cJSON_Delete(j);
    if (rc) return -1;
    char e2[256];
    if (model_create(m, &c, e2, sizeof e2)) { snprintf(err, errlen, "%s: %s", path, e2); return -1; }

    char **names = NULL;
    int nf = 0;
    if (one) {
        names = calloc(1, sizeof *names);
        names[0] = strdup(one);
        nf = 1;
    } else if (list_files(dir, &names, &nf, err, errlen)) { model_free(m); return -1; }
    shard_file *sf = calloc((size_t)nf, sizeof *sf);
    piece *pc = malloc(MAX_PIECES * sizeof *pc);
    rc = sf && pc ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
    for (int i = 0; !rc && i < nf; i++) {
        if (one) snprintf(path, sizeof path, "%s", names[i]);
        else snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = st_open(&sf[i].f, path, err, errlen);
        if (!rc) {
            sf[i].used = calloc(sf[i].f.n ? (size_t)sf[i].f.n : 1, 1);
            meta->file_tensors += (size_t)sf[i].f.n;
            for (int k = 0; k < sf[i].f.n; k++) meta->dtype_bf16 |= sf[i].f.t[k].dtype == ST_BF16;
        }
        meta->nfiles = i + 1;
    }
    /* every piece pktlm needs, at its place */
    int np = rc ? 0 : pieces_of(m, pc);
    for (int i = 0; !rc && i < np; i++) {
        rc = read_piece(dir, sf, nf, &pc[i], model_tensor(m, pc[i].tensor) + pc[i].at, err, errlen);
    }
    /* a tied head written out anyway must be the embedding itself; anything else unused is an error */
    for (int i = 0; !rc && i < nf; i++)
        for (int k = 0; !rc && k < sf[i].f.n; k++) {
            const st_tensor *t = &sf[i].f.t[k];
            if (sf[i].used[k] || is_buffer(t->name)) continue;
            if (m->cfg.tied && (!strcmp(t->name, "lm_head.weight") || !strcmp(t->name, "transformer.lm_head.weight"))) {
                float *h = malloc(t->numel * sizeof *h);
                const float *e = model_tensor(m, m->head);
                if (!h || !shape_is(t, (int64_t)model_vocab_rows(&m->cfg), m->cfg.d_model, 0) || st_read_f32(&sf[i].f, t, h, err, errlen)) {
                    if (h) snprintf(err, errlen, "%s: tied lm_head.weight has the wrong shape", sf[i].f.path);
                    free(h); rc = -1; break;
                }
                size_t diff = 0;
                for (size_t q = 0; q < t->numel; q++) diff += h[q] != e[q];
                free(h);
                if (diff) {
                    snprintf(err, errlen, "%s: lm_head.weight differs from the embedding in %zu values: pktlm's %s ties the LM "
                             "head to the embedding (tie_word_embeddings; an untied head is not supported)", sf[i].f.path, diff,
                             model_arch_name(m->cfg.arch));
                    rc = -1;
                }
                continue;
            }
            for (int o = 0; o < nf; o++) {
                const st_tensor *u = o == i ? NULL : st_find(&sf[o].f, t->name);
                if (u && sf[o].used[u - sf[o].f.t]) {
                    snprintf(err, errlen, "tensor '%s' is in two files: %s and %s", t->name, sf[o].f.path, sf[i].f.path);
                    rc = -1;
                    break;
                }
            }
            if (!rc)
                snprintf(err, errlen, "%s: tensor '%s' is not part of a %s model of this config (a different architecture?)",
                         sf[i].f.path, t->name, model_arch_name(m->cfg.arch));
            rc = -1;
        }
    for (int i = 0; sf && i < nf; i++) { st_close(&sf[i].f); free(sf[i].used); }
    for (int i = 0; i < nf; i++) free(names[i]);
    free(names); free(sf); free(pc);
    if (rc) { model_free(m); return -1; }
    return 0;
}

/* ---- export ---- */

/* the shortest decimal that reads back as the same float (1e-05, not 9.99999974737875e-06) */
static double short_float(float f) {
    char b[32];
    for (int p = 1; p < 10; p++) {
        snprintf(b, sizeof b, "%.*g", p, f);
        double d = strtod(b, NULL);
        if ((float)d == f) return d;
    }
    return f;
}

static int write_config(const model *m, const hf_meta *meta, const char *path, char *err, size_t errlen) {
    const model_config *c = &m->cfg;
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "architectures");
    int bos = meta && meta->bos_id >= 0 ? meta->bos_id : -1, eos = meta && meta->eos_id >= 0 ? meta->eos_id : -1;
    if (c->arch == ARCH_LINATTN) {
        /* tcpflowgen's config dict (config.py) as tools/torch_to_safetensors.py writes it */
        cJSON_Delete(j);
        j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model_type", "tcpflowgen");
        cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
        cJSON_AddNumberToObject(j, "d_model", c->d_model);
        cJSON_AddNumberToObject(j, "nhead", c->heads);
        cJSON_AddNumberToObject(j, "num_layers", c->layers);
        cJSON_AddNumberToObject(j, "dim_feedforward", c->d_ff);
        cJSON_AddNumberToObject(j, "context_length", c->ctx);
        cJSON_AddNumberToObject(j, "dropout", short_float(c->dropout));
    } else if (c->arch == ARCH_MAMBA2 && meta && meta->mamba2_hf) {
        /* transformers' Mamba2Config (Mamba2ForCausalLM): the embedding's rows are its vocabulary;
         * time_step_limit left out (its default (0, inf): JSON has no inf) */
        cJSON_AddItemToArray(a, cJSON_CreateString("Mamba2ForCausalLM"));
        cJSON_AddStringToObject(j, "model_type", "mamba2");
        cJSON_AddNumberToObject(j, "vocab_size", (double)model_vocab_rows(c));
        cJSON_AddNumberToObject(j, "hidden_size", c->d_model);
        cJSON_AddNumberToObject(j, "num_hidden_layers", c->layers);
        cJSON_AddNumberToObject(j, "state_size", c->d_state);
        cJSON_AddNumberToObject(j, "expand", c->expand);
        cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
        cJSON_AddNumberToObject(j, "num_heads", c->expand * c->d_model / c->head_dim);
        cJSON_AddNumberToObject(j, "n_groups", c->groups);
        cJSON_AddNumberToObject(j, "conv_kernel", c->d_conv);
        cJSON_AddNumberToObject(j, "chunk_size", c->chunk);
        cJSON_AddNumberToObject(j, "layer_norm_epsilon", 1e-5);
        cJSON_AddStringToObject(j, "hidden_act", "silu");
        cJSON_AddBoolToObject(j, "use_bias", 0);
        cJSON_AddBoolToObject(j, "use_conv_bias", 1);
        cJSON_AddBoolToObject(j, "residual_in_fp32", 1);
        cJSON_AddBoolToObject(j, "rms_norm", 1);
        cJSON_AddBoolToObject(j, "tie_word_embeddings", 1);
        cJSON_AddNumberToObject(j, "initializer_range", 0.1);
        int pad = meta->pad_id >= 0 ? meta->pad_id : -1;
        if (pad >= 0) cJSON_AddNumberToObject(j, "pad_token_id", pad); else cJSON_AddNullToObject(j, "pad_token_id");
    } else if (c->arch == ARCH_MAMBA2) {
        /* mamba_ssm's MambaConfig, as NetSSM's checkpoints/configs/default/config.json: the real
         * vocabulary and pktlm's vocab_pad as pad_vocab_size_multiple (the embedding's rows) */
        cJSON_Delete(j);
        j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "d_model", c->d_model);
        cJSON_AddNumberToObject(j, "d_intermediate", 0);
        cJSON_AddNumberToObject(j, "n_layer", c->layers);
        cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
        cJSON *s = cJSON_AddObjectToObject(j, "ssm_cfg");
        cJSON_AddStringToObject(s, "layer", "Mamba2");
        cJSON_AddNumberToObject(s, "d_state", c->d_state);
        cJSON_AddNumberToObject(s, "d_conv", c->d_conv);
        cJSON_AddNumberToObject(s, "expand", c->expand);
        cJSON_AddNumberToObject(s, "headdim", c->head_dim);
        cJSON_AddNumberToObject(s, "ngroups", c->groups);
        cJSON_AddNumberToObject(s, "chunk_size", c->chunk);
        cJSON_AddArrayToObject(j, "attn_layer_idx");
        cJSON_AddObjectToObject(j, "attn_cfg");
        cJSON_AddBoolToObject(j, "rms_norm", 1);
        cJSON_AddBoolToObject(j, "residual_in_fp32", 1);
        cJSON_AddBoolToObject(j, "fused_add_norm", 1);
        cJSON_AddNumberToObject(j, "pad_vocab_size_multiple", c->vocab_pad > 1 ? c->vocab_pad : 1);
        cJSON_AddBoolToObject(j, "tie_embeddings", 1);
    } else if (c->arch == ARCH_GPT2) {
        cJSON_AddItemToArray(a, cJSON_CreateString("GPT2LMHeadModel"));
        cJSON_AddStringToObject(j, "model_type", "gpt2");
        cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
        cJSON_AddNumberToObject(j, "n_positions", c->ctx);
        cJSON_AddNumberToObject(j, "n_ctx", c->ctx);
        cJSON_AddNumberToObject(j, "n_embd", c->d_model);
        cJSON_AddNumberToObject(j, "n_layer", c->layers);
        cJSON_AddNumberToObject(j, "n_head", c->heads);
        cJSON_AddNumberToObject(j, "n_inner", c->d_ff);
        cJSON_AddStringToObject(j, "activation_function", "gelu_new");
        cJSON_AddNumberToObject(j, "layer_norm_epsilon", 1e-5);
        cJSON_AddNumberToObject(j, "resid_pdrop", short_float(c->dropout));
        cJSON_AddNumberToObject(j, "embd_pdrop", short_float(c->dropout));
        cJSON_AddNumberToObject(j, "attn_pdrop", 0);
        cJSON_AddNumberToObject(j, "initializer_range", 0.02);
        cJSON_AddBoolToObject(j, "scale_attn_weights", 1);
        cJSON_AddBoolToObject(j, "tie_word_embeddings", 1);
    } else {
        cJSON_AddItemToArray(a, cJSON_CreateString("Qwen2ForCausalLM"));
        cJSON_AddStringToObject(j, "model_type", "qwen2");
        cJSON_AddNumberToObject(j, "vocab_size", c->vocab);
        cJSON_AddNumberToObject(j, "max_position_embeddings", c->ctx);
        cJSON_AddNumberToObject(j, "hidden_size", c->d_model);
        cJSON_AddNumberToObject(j, "num_hidden_layers", c->layers);
        cJSON_AddNumberToObject(j, "num_attention_heads", c->heads);
        cJSON_AddNumberToObject(j, "num_key_value_heads", c->kv_heads);
        cJSON_AddNumberToObject(j, "intermediate_size", c->d_ff);
        cJSON_AddStringToObject(j, "hidden_act", "silu");
        cJSON_AddNumberToObject(j, "rms_norm_eps", short_float(c->norm_eps));
        cJSON_AddNumberToObject(j, "rope_theta", short_float(c->rope_theta));
        cJSON_AddNullToObject(j, "rope_scaling");
        cJSON_AddBoolToObject(j, "use_sliding_window", 0);
        cJSON_AddNumberToObject(j, "attention_dropout", 0);
        cJSON_AddNumberToObject(j, "initializer_range", 0.02);
        cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied);
    }
    if ((c->arch != ARCH_MAMBA2 || (meta && meta->mamba2_hf)) && c->arch != ARCH_LINATTN) {
        if (bos >= 0) cJSON_AddNumberToObject(j, "bos_token_id", bos); else cJSON_AddNullToObject(j, "bos_token_id");
        if (eos >= 0) cJSON_AddNumberToObject(j, "eos_token_id", eos); else cJSON_AddNullToObject(j, "eos_token_id");
        cJSON_AddStringToObject(j, "torch_dtype", "float32");
    }
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) { snprintf(err, errlen, "out of memory"); return -1; }
    size_t n = strlen(txt);
    txt[n] = '\n';   /* cJSON_Print's NUL becomes the final newline */
    int rc = write_file_atomic(path, txt, n + 1);
    free(txt);
    if (rc) { snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno)); return -1; }
    return 0;
}

int hf_export(const model *m, const hf_meta *meta, const char *dir, char *err, size_t errlen) {
    if (m->cfg.arch != ARCH_GPT2 && m->cfg.arch != ARCH_QWEN2 && m->cfg.arch != ARCH_MAMBA2 && m->cfg.arch != ARCH_LINATTN) {
        snprintf(err, errlen, "export of %s models is not supported", model_arch_name(m->cfg.arch));
        return -1;
    }
    const int mhf = m->cfg.arch == ARCH_MAMBA2 && meta && meta->mamba2_hf;
    if (mhf && m->cfg.groups > 1) {
        snprintf(err, errlen, "groups %d: transformers' Mamba2 would normalize the gated output over the whole inner width, "
                 "not per group as this model was trained (write mamba_ssm's layout instead)", m->cfg.groups);
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) { snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno)); return -1; }
    if (!is_dir(dir)) { snprintf(err, errlen, "%s: exists and is not a folder", dir); return -1; }
    piece *pc = malloc(MAX_PIECES * sizeof *pc);
    st_out *o = malloc(MAX_PIECES * sizeof *o);
    float **tmp = calloc(MAX_PIECES, sizeof *tmp);
    char (*names)[112] = malloc(MAX_PIECES * sizeof *names);
    int rc = -1;
    if (!pc || !o || !tmp || !names) { snprintf(err, errlen, "out of memory"); goto done; }
    int np = pieces_of(m, pc);
    for (int i = 0; i < np; i++) {
        const piece *p = &pc[i];
        const float *src = model_tensor(m, p->tensor) + p->at;
        /* save_pretrained's names: GPT2LMHeadModel's "transformer." prefix */
        snprintf(names[i], sizeof names[i], "%s%s", m->cfg.arch == ARCH_GPT2 ? "transformer." : "",
                 mhf && i == 0 ? "backbone.embeddings.weight" : p->name);   /* transformers' Mamba2Model */
        o[i].name = names[i];
        o[i].ndim = p->depth ? 3 : p->cols ? 2 : 1;
        o[i].shape[0] = p->rows; o[i].shape[1] = p->cols; o[i].shape[2] = p->depth;
        o[i].data = src;
        if (p->transpose) {   /* pktlm (cols, rows) -> Conv1D (rows, cols) */
            tmp[i] = malloc((size_t)(p->rows * p->cols) * sizeof **tmp);
            if (!tmp[i]) { snprintf(err, errlen, "out of memory"); goto done; }
            for (int64_t r = 0; r < p->rows; r++)
                for (int64_t k = 0; k < p->cols; k++) tmp[i][r * p->cols + k] = src[k * p->rows + r];
            o[i].data = tmp[i];
        }
    }
    if (m->cfg.arch == ARCH_MAMBA2) {   /* MambaLMHeadModel's state dict repeats the tied head; load_state_dict wants it
                                          * (transformers' save_pretrained leaves it out; its loaders take it either way) */
        o[np] = o[0];
        o[np].name = "lm_head.weight";
        np++;
    }
    char path[4096 + 64];
    static const char *const st_meta[] = { "format", "pt" };   /* transformers refuses files without it */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_write(path, o, np, st_meta, 2, err, errlen)) goto done;
    snprintf(path, sizeof path, "%s/config.json", dir);
    rc = write_config(m, meta, path, err, errlen);
done:
    for (int i = 0; tmp && i < MAX_PIECES; i++) free(tmp[i]);
    free(tmp); free(o); free(pc); free(names);
    return rc;
}

/* ---- pktlm's vocabulary as a Hugging Face tokenizer ---- */

static cJSON *added_token(int id, const char *name) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", name);
    cJSON_AddBoolToObject(t, "single_word", 0);
    cJSON_AddBoolToObject(t, "lstrip", 0);
    cJSON_AddBoolToObject(t, "rstrip", 0);
    cJSON_AddBoolToObject(t, "normalized", 0);
    cJSON_AddBoolToObject(t, "special", 1);
    return t;
}

static int write_json(cJSON *j, const char *path, char *err, size_t errlen) {
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) { snprintf(err, errlen, "out of memory"); return -1; }
    size_t n = strlen(txt);
    txt[n] = '\n';
    int rc = write_file_atomic(path, txt, n + 1);
    free(txt);
    if (rc) { snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno)); return -1; }
    return 0;
}

int hf_write_tokenizer(const char *dir, int vocab, char *err, size_t errlen) {
    if (vocab < TOK_LABEL0) { snprintf(err, errlen, "vocabulary %d is not pktlm's token format", vocab); return -1; }
    cJSON *j = cJSON_CreateObject(), *added = NULL, *wl = NULL, *v = NULL, *pre = NULL;
    cJSON_AddStringToObject(j, "version", "1.0");
    cJSON_AddNullToObject(j, "truncation");
    cJSON_AddNullToObject(j, "padding");
    added = cJSON_AddArrayToObject(j, "added_tokens");
    cJSON_AddNullToObject(j, "normalizer");
    pre = cJSON_AddObjectToObject(j, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "WhitespaceSplit");
    cJSON_AddNullToObject(j, "post_processor");
    cJSON_AddNullToObject(j, "decoder");
    wl = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(wl, "type", "WordLevel");
    v = cJSON_AddObjectToObject(wl, "vocab");
    char name[32];
    for (int t = 0; t < vocab; t++) {
        tok_name(t, name);
        if (cJSON_GetObjectItemCaseSensitive(v, name)) {   /* names are distinct by design; never map two ids to one */
            snprintf(err, errlen, "token name '%s' given twice", name);
            cJSON_Delete(j);
            return -1;
        }
        cJSON_AddNumberToObject(v, name, t);
        if (t >= TOK_PAD) cJSON_AddItemToArray(added, added_token(t, name));
    }
    cJSON_AddStringToObject(wl, "unk_token", "<pad>");
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (write_json(j, path, err, errlen)) return -1;
    j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "tokenizer_class", "PreTrainedTokenizerFast");
    cJSON_AddStringToObject(j, "bos_token", tok_name(TOK_BOS, name));
    cJSON_AddStringToObject(j, "eos_token", tok_name(TOK_EOS, name));
    cJSON_AddStringToObject(j, "pad_token", tok_name(TOK_PAD, name));
    cJSON_AddStringToObject(j, "unk_token", tok_name(TOK_PAD, name));
    cJSON_AddNumberToObject(j, "model_max_length", 1048576);
    cJSON_AddStringToObject(j, "pktlm_token_format", "docs/tokens.md: BOS LABEL { PKT DIR TIME bytes }* EOS");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    return write_json(j, path, err, errlen);
}
