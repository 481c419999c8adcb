/* The model interface: one file per backbone (gpt2.c now; qwen2.c, mamba2.c, linattn.c
 * later), a common front (model.c) that owns memory, the language-model head, the loss and
 * the optimizer.
 *
 * A backbone maps tokens (B,T) to final hidden states (B,T,C) after its last norm, and back:
 *   forward(m, tok, B, T)      -> m->hidden            (training / scoring, caches activations)
 *   backward(m, tok, B, T)     m->dhidden -> m->grads  (accumulates; caller zeroes grads)
 *   step(m, state, tok, B, pos, hidden)                (generation: one new token per sequence,
 *                                                       state = KV cache or recurrent state)
 * Heads sit on `hidden`: the LM head here (tied or not), a classification head in the
 * finetune stage, so the backbone never knows which task trains it.
 *
 * Memory, one allocation each: params, grads, AdamW m, v (same tensor table layout, so the
 * optimizer, clipping and checkpoints are flat loops / single writes), acts (the forward
 * cache for one (B,T)), dacts (gradient buffers for one (B,T)). */
#ifndef PKTLM_MODEL_H
#define PKTLM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "nn/nn.h"

enum { ARCH_GPT2 = 1, ARCH_QWEN2 = 2, ARCH_MAMBA2 = 3, ARCH_LINATTN = 4 };

typedef struct {
    int32_t arch;
    int32_t vocab;       /* V */
    int32_t ctx;         /* maximum T (learned positions / cache length) */
    int32_t layers;      /* L */
    int32_t d_model;     /* C */
    int32_t heads;       /* NH */
    int32_t kv_heads;    /* grouped-query attention (Qwen2); = heads for GPT-2 */
    int32_t d_ff;        /* MLP width; 4C for GPT-2 */
    int32_t tied;        /* LM head shares the token embedding */
    float dropout;       /* residual/embedding dropout in training (0 = off) */
    float rope_theta;    /* Qwen2: RoPE base (default 10000; Qwen2.5 uses 1e6); 0 for GPT-2 */
    float norm_eps;      /* Qwen2: RMSNorm epsilon (default 1e-6); 0 for GPT-2 (LayerNorm 1e-5) */
} model_config;

typedef struct model model;

typedef struct {
    const char *name;
    /* Parameter table: fills specs (at most NN_MAX_TENSORS), returns the count; sets
     * *head to the index of the LM head weight (V,C) (the embedding when tied). */
    int (*params)(const model_config *c, tensor_spec *specs, int *head);
    /* Check a config; returns NULL or a message saying what is wrong. */
    const char *(*check)(const model_config *c);
    void (*init)(model *m, uint64_t seed);
    size_t (*act_floats)(const model_config *c, int B, int T);
    size_t (*dact_floats)(const model_config *c, int B, int T);
    void (*forward)(model *m, const int *tok, int B, int T);
    void (*backward)(model *m, const int *tok, int B, int T);
    size_t (*state_floats)(const model_config *c, int B);
    void (*step)(model *m, float *state, const int *tok, int B, int pos, float *hidden);
} model_ops;

struct model {
    model_config cfg;
    const model_ops *ops;
    int ntensors, head;
    int head_bias;                   /* index of the LM head's bias "lm_head.bias" (V), -1: none */
    tensor_spec spec[NN_MAX_TENSORS];
    size_t offset[NN_MAX_TENSORS];   /* float offset of each tensor in params/grads/m/v */
    size_t nparams;
    float *params, *grads, *adam_m, *adam_v;
    /* activations for the allocated shape */
    int B, T;
    float *acts, *dacts;             /* backbone's own buffers */
    float *hidden, *dhidden;         /* (B,T,C) */
    float *logits, *dlogits, *losses;/* (B,T,V), (B,T,V), (B,T) */
    float loss;                      /* mean over counted targets of the last forward */
    int counted;                     /* targets counted by the last forward */
    uint64_t dropout_seed;           /* set per micro-step by the trainer */
    int training;                    /* dropout on */
    int prec;                        /* matrix products of forward/backward: NN_FP32 (0, default) or
                                        NN_BF16 (mixed precision; set by the trainer, `--bf16`) */
};

const model_ops *model_ops_for(int arch);
const char *model_arch_name(int arch);
int model_arch_parse(const char *name);   /* "gpt2" -> ARCH_GPT2, 0 if unknown */

/* Fill defaults for a backbone (kv_heads, d_ff, tied, rope_theta, norm_eps). */
void model_config_defaults(model_config *c);
/* Create with parameters (initialised from seed when seed != 0 ... or left zero) */
int model_create(model *m, const model_config *c, char *err, size_t errlen);
void model_init_weights(model *m, uint64_t seed);
/* Allocate gradients and AdamW state (training only). 0 ok. */
int model_alloc_training(model *m);
/* Allocate activations for batch B, length T <= ctx (re-allocates when the shape grows). */
int model_alloc_acts(model *m, int B, int T);
void model_free(model *m);

/* Bytes needed to train (params, grads, m, v, activations) or to run forward only. */
size_t model_memory_bytes(const model_config *c, int B, int T, int training);
size_t model_param_count(const model_config *c);

float *model_tensor(const model *m, int i);
/* Copy src's weights into dst (the same backbone and shape but maybe another vocabulary),
 * tensor by tensor by name; a tensor whose size differs keeps the common prefix (for the (V, C)
 * token embedding: the rows of the shared ids). fresh_vocab = 1 (the QwenNet recipe: the body
 * kept, new token embedding and head): the token embedding and an untied head keep dst's fresh
 * initialisation, rescaled to the root-mean-square of src's. Returns the tensors of dst that
 * were copied or kept fresh on purpose (= dst->ntensors when everything matched). */
int model_copy_weights(model *dst, const model *src, int fresh_vocab);
/* The dropout seed of one site of a backbone (layer l, -1 for the embedding; site a number the
 * backbone picks): distinct streams for (micro-step seed m->dropout_seed, layer, site). */
uint64_t model_drop_seed(const model *m, int l, int site);
float *model_grad(const model *m, int i);
int model_find_tensor(const model *m, const char *name);

/* Forward through backbone + LM head. tgt (B*T, < 0 = ignored) may be NULL: then only
 * logits. Returns the mean loss over counted targets (m->loss, m->counted). */
float model_forward(model *m, const int *tok, const int *tgt, int B, int T);
/* Backward of the last forward. scale multiplies each counted target's gradient: pass
 * 1/(counted targets of the whole accumulated batch), or 0 for 1/m->counted. */
void model_backward(model *m, const int *tok, const int *tgt, int B, int T, float scale);
void model_zero_grad(model *m);
/* One AdamW step with the tensor table's decay flags. */
void model_adamw(model *m, const adamw_params *h, int t);

/* Generation: state for B sequences, then one token per sequence at position pos
 * (0-based, all sequences at the same position); logits (B,V). */
float *model_state_alloc(const model *m, int B);
void model_step(model *m, float *state, const int *tok, int B, int pos, float *logits);
#endif
