/* The model config field table (model.h): every field of model_config described once. The
 * checkpoint header writer and reader, `pktlm info`, the training verbs' options, the resume
 * warnings and finetune --init's copy all walk this table. A new field is one line here (and a
 * member of model_config): docs/model.md, "Adding a config field". */
#include "models/model.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define ATTN (MF_ARCHES(ARCH_GPT2) | MF_ARCHES(ARCH_QWEN2) | MF_ARCHES(ARCH_LINATTN))
#define MAMBA MF_ARCHES(ARCH_MAMBA2)
#define F(n, fl, h, t, m, sl, l, hi, ar, res, isf) { n, fl, h, t, offsetof(model_config, m), sl, l, hi, ar, res, isf, 0 }

/* header slots 2..11 are those of checkpoint version 1; 63..95 are for fields added since
 * (0 in older files: the backbone's default) */
const model_field model_fields[] = {
    F("arch", "--arch", "backbone", MF_ARCH, arch, 2, 1, ARCH_MAX - 1, MF_ALL, 0, 0),
    F("vocab", NULL, "vocabulary size", MF_INT, vocab, 3, 2, 1 << 24, MF_ALL, 0, 0),
    F("ctx", "--ctx", "context (tokens)", MF_INT, ctx, 4, 2, 1048576, MF_ALL, 0, 0),
    F("layers", "--layers", "layers", MF_INT, layers, 5, 1, 1024, MF_ALL, 0, 0),
    F("d_model", "--d-model", "model width", MF_INT, d_model, 6, 1, 32768, MF_ALL, 0, 0),
    F("heads", "--heads", "attention heads", MF_INT, heads, 7, 1, 1024, ATTN, 0, 0),
    F("kv_heads", "--kv-heads", "key/value heads (grouped-query attention; default = heads)", MF_INT, kv_heads, 8, 1,
      1024, ATTN, 0, 0),
    F("d_ff", "--d-ff", "MLP width (gpt2 default 4 d-model, qwen2 8/3 d-model rounded to 32)", MF_INT, d_ff, 9, 1,
      262144, ATTN, 0, 0),
    F("tied", "--tied", "LM head tied to the token embedding (gpt2 always)", MF_INT, tied, 10, 0, 1, MF_ALL, 0, 1),
    F("dropout", "--dropout", "residual and embedding dropout in training", MF_FLOAT, dropout, 11, 0, 0.99, MF_ALL, 1, 0),
    F("rope_theta", "--rope-theta", "RoPE base (qwen2 default 10000; Qwen2.5 uses 1000000)", MF_FLOAT, rope_theta, 63, 1,
      1e9, MF_ARCHES(ARCH_QWEN2), 0, 0),
    F("norm_eps", NULL, "qwen2: RMSNorm epsilon (default 1e-6; HF rms_norm_eps)", MF_FLOAT, norm_eps, 70, 1e-12, 0.1,
      MF_ARCHES(ARCH_QWEN2), 0, 0),
    F("d_state", "--d-state", "mamba2: SSM state size", MF_INT, d_state, 64, 1, 1024, MAMBA, 0, 0),
    F("d_conv", "--d-conv", "mamba2: causal convolution width", MF_INT, d_conv, 65, 1, 16, MAMBA, 0, 0),
    F("expand", "--expand", "mamba2: inner width = expand x d-model", MF_INT, expand, 66, 1, 16, MAMBA, 0, 0),
    F("head_dim", "--head-dim", "mamba2: SSM head size", MF_INT, head_dim, 67, 1, 4096, MAMBA, 0, 0),
    F("chunk", "--chunk", "mamba2: scan chunk length; linattn: training chunk length (speed only: the output does not depend on it)",
      MF_INT, chunk, 68, 1, 4096, MAMBA | MF_ARCHES(ARCH_LINATTN), 1, 0),
    F("groups", "--groups", "mamba2: B/C groups", MF_INT, groups, 69, 1, 1024, MAMBA, 0, 0),
    { "vocab_pad", "--vocab-pad", "mamba2: embedding rows padded to a multiple of N (default 16, NetSSM's; 1 = none)", MF_INT,
      offsetof(model_config, vocab_pad), 71, 1, 1024, MAMBA, 0, 0, 1 },
};
const int model_nfields = (int)(sizeof model_fields / sizeof model_fields[0]);

double model_field_get(const model_config *c, const model_field *f) {
    const char *p = (const char *)c + f->off;
    if (f->type == MF_FLOAT) { float v; memcpy(&v, p, sizeof v); return v; }
    int32_t v; memcpy(&v, p, sizeof v); return v;
}

void model_field_set(model_config *c, const model_field *f, double v) {
    char *p = (char *)c + f->off;
    if (f->type == MF_FLOAT) { float x = (float)v; memcpy(p, &x, sizeof x); }
    else { int32_t x = (int32_t)v; memcpy(p, &x, sizeof x); }
}

const char *model_config_check_fields(const model_config *c, char *msg, size_t msglen) {
    uint32_t me = c->arch > 0 && c->arch < ARCH_MAX ? MF_ARCHES(c->arch) : 0;
    for (int i = 0; i < model_nfields; i++) {
        const model_field *f = &model_fields[i];
        double v = model_field_get(c, f);
        if (!(f->archs & me)) {
            if (v != 0) { snprintf(msg, msglen, "%s is not a setting of this backbone (must be 0, is %g)", f->name, v); return msg; }
            continue;
        }
        if (!(v >= f->lo && v <= f->hi)) {   /* NaN fails too */
            snprintf(msg, msglen, "%s must be %g..%g, is %g", f->name, f->lo, f->hi, v);
            return msg;
        }
    }
    return NULL;
}
