/* The model interface: one file per backbone (gpt2.c, qwen2.c, mamba2.c, linattn.c), a
 * common front (model.c) that owns memory, the language-model head, the loss, the optimizer and
 * the decoding run state, one registry of backbones (backbones.c) and one table of config
 * fields (config.c). docs/model.md, "Adding a backbone", says what a new one writes.
 *
 * A backbone maps tokens (B,T) to final hidden states (B,T,C) after its last norm, and back:
 *   forward(m, tok, B, T)      -> m->hidden            (training / scoring, caches activations)
 *   backward(m, tok, B, T)     m->dhidden -> m->grads  (accumulates; caller zeroes grads)
 * and decodes (generation, continuous batching) through a model_run:
 *   step(rs, t, nt, n, slot, tok, pos)  one new token for each of n rows, row r in state slot
 *                                       slot[r] at its own position pos[r] -> hidden rows
 *   reset(rs, slot)                     the slot starts a new sequence
 *   prefill(rs, t, nt, slot, tok, len)  optional: a whole prompt into one slot
 * Heads sit on `hidden`: the LM head here (tied or not), the classification head of
 * models/clshead.h, so the backbone never knows which task trains it.
 *
 * Memory, one allocation each: params, grads, AdamW m, v (same tensor table layout, so the
 * optimizer, clipping and checkpoints are flat loops / single writes), acts (the forward
 * cache for one (B,T)), dacts (gradient buffers for one (B,T)). */
#ifndef PKTLM_MODEL_H
#define PKTLM_MODEL_H
#include <stddef.h>
#include <stdint.h>
#include "nn/nn.h"
#include "nn/barrier.h"
#include "nn/decode.h"

/* Backbone ids: stored in checkpoints (header slot 2), so never renumbered. */
enum { ARCH_GPT2 = 1, ARCH_QWEN2 = 2, ARCH_MAMBA2 = 3, ARCH_LINATTN = 4, ARCH_MAX = 5 };

/* Every field is described once in model_fields[] (config.c): its name, type, range, which
 * backbones read it, its CLI flag, its checkpoint header slot, whether --resume may change it.
 * A field a backbone does not read stays 0. A field left 0 gets the backbone's default
 * (ops->defaults). */
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
    float rope_theta;    /* RoPE base (Qwen2: 10000 by default; Qwen2.5 uses 1e6) */
    float norm_eps;      /* Qwen2: RMSNorm epsilon (default 1e-6; HF rms_norm_eps) */
    /* Mamba-2 (state-space duality): SSM state size N, causal conv width, inner width =
     * expand x C, head size P (inner / P heads), scan chunk length, B/C groups */
    int32_t d_state, d_conv, expand, head_dim, chunk, groups;
    /* Mamba-2: the token embedding has vocab rounded up to a multiple of vocab_pad rows (NetSSM's
     * pad_vocab_size_multiple 16; 0 in files written before it = 1, none). The LM head reads the
     * first vocab rows only: a pad row is never a logit, so never sampled. */
    int32_t vocab_pad;
} model_config;

/* ---- the config field table ---- */
enum { MF_INT, MF_FLOAT, MF_ARCH };
#define MF_ALL 0xffffffffu                 /* every backbone reads it */
#define MF_ARCHES(a) (1u << (a))           /* the backbones that read a field: MF_ARCHES(ARCH_QWEN2) | ... */
typedef struct {
    const char *name;    /* key in `info --json` and in docs: "d_model" */
    const char *flag;    /* command-line option ("--d-model"), NULL when the verb does not take one (vocab) */
    const char *help;    /* --help text and `info` label */
    int type;            /* MF_INT (int32_t), MF_FLOAT (float), MF_ARCH (int32_t, parsed by name) */
    size_t off;          /* offsetof(model_config, field) */
    int slot;            /* checkpoint header: int32 slot (docs/checkpoint.md); 0 in old files = default */
    double lo, hi;       /* accepted values (command line and checkpoint header) */
    uint32_t archs;      /* MF_ALL or MF_ARCHES(...): who reads it (others: must stay 0) */
    int resume;          /* 1: `pretrain --resume` takes a new value (dropout); 0: keeps the checkpoint's, warns */
    int is_flag;         /* command line: a flag without a value (--tied sets 1) */
    double old;          /* checkpoint header: what 0 means in files written before the field existed, where
                            that is not the backbone's default (0: the default) */
} model_field;
extern const model_field model_fields[];
extern const int model_nfields;
/* The value of field f of c as a double; set it from a double. */
double model_field_get(const model_config *c, const model_field *f);
void model_field_set(model_config *c, const model_field *f, double v);
/* Check every field against its range and against the backbones that read it; NULL or a message
 * (static buffer of the caller: msg of msglen) naming the field. Backbone checks come after. */
const char *model_config_check_fields(const model_config *c, char *msg, size_t msglen);

typedef struct model model;

typedef struct model_run model_run;

typedef struct {
    const char *name;
    /* ---- shape ---- */
    /* Fill the fields this backbone reads and that are left 0 with its defaults (kv_heads,
     * d_ff, rope_theta, d_state ...); force what it fixes (GPT-2: tied = 1). */
    void (*defaults)(model_config *c);
    /* Check a config (after defaults and the field table's ranges); NULL or what is wrong. */
    const char *(*check)(const model_config *c);
    /* Parameter table: fills specs (at most NN_MAX_TENSORS), returns the count; sets
     * *head to the index of the LM head weight (V,C) (the embedding when tied). */
    int (*params)(const model_config *c, tensor_spec *specs, int *head);
    void (*init)(model *m, uint64_t seed);
    /* ---- training ---- */
    size_t (*act_floats)(const model_config *c, int B, int T);
    size_t (*dact_floats)(const model_config *c, int B, int T);
    void (*forward)(model *m, const int *tok, int B, int T);
    void (*backward)(model *m, const int *tok, int B, int T);
    /* ---- decoding (model_run, below) ---- */
    /* Lay out the run state: pack the weights for rs->prec and carve per-slot state and
     * scratch, through nn_arena (decode.h) so the sizes and the pointers come from one walk.
     * 0 ok, -1 out of memory, -2 rs->prec not supported by this build/CPU. */
    int (*run_init)(model_run *rs);
    void (*run_free)(model_run *rs);        /* what run_init allocated */
    /* Bytes of one slot's state (KV cache of ctx positions, or a recurrent state). */
    size_t (*slot_bytes)(const model_config *c, int prec);
    /* Slot starts a new sequence (called between steps, by one thread). A KV cache needs
     * nothing (positions are overwritten: NULL is fine); a recurrent state zeroes itself
     * (rs->state + slot * rs->slot_bytes). */
    void (*reset)(model_run *rs, int slot);
    /* One token for each of n rows (n <= rs->slots): row r is state slot slot[r] (distinct
     * slots), token tok[r], at position pos[r] = tokens the slot has seen since its reset.
     * Called by every thread t of a team of nt (nt <= rs->nthreads) inside the caller's
     * parallel region; synchronise with nn_barrier_wait(&rs->bar). Returns the final hidden
     * rows (n, C; row stride C) readable by thread t at once (a shared buffer after a
     * barrier, or thread t's own copy). A row's result must not depend on the other rows, n
     * or nt (same seed, same tokens, whatever --batch). */
    const float *(*step)(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos);
    /* Optional (NULL: the front steps the prompt token by token): tok[0..len) into a freshly
     * reset slot at positions 0..len-1, leaving the slot as len steps would; returns the hidden
     * row of the last position as step does. Same team rules as step. A backbone whose step
     * takes rows of ONE slot at consecutive positions (each row's cache/state written before the
     * next row reads it, rows in order) names model_run_prefill_rows: the prompt goes through
     * its step MODEL_RUN_PREFILL_ROWS positions at a time, a batched forward whose weights are
     * read once per block instead of once per token, bit-identical to stepping. */
    const float *(*prefill)(model_run *rs, int t, int nt, int slot, const int *tok, int len);
    /* 1: a slot's state is all the history there is (O(1) in the position) and step ignores
     * pos, so a sequence may run on without a reset, past ctx: whole-capture generation carries
     * it from one window to the next (docs/generate.md). 0: a key/value cache or positions (RoPE) */
    int recurrent;
} model_ops;

/* The backbone registry: one entry per architecture id (backbones.c). ops NULL: planned,
 * not built (the name still parses, and says so). No `switch (arch)` anywhere else. */
typedef struct { const char *name; const model_ops *ops; } model_backbone;
extern const model_backbone model_backbones[ARCH_MAX];

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
    /* Called by the backbone's backward after layer l (L-1 down to 0), when that layer's slices
     * of the stacked gradients are final; NULL: nothing. Data-parallel training (train/dist.c)
     * starts summing them with the other processes' while the lower layers run. */
    void (*layer_done)(void *ctx, int l);
    void *layer_ctx;
};
/* backbones call this at the end of each layer of their backward pass */
static inline void model_layer_done(model *m, int l) { if (m->layer_done) m->layer_done(m->layer_ctx, l); }

const model_ops *model_ops_for(int arch);
const char *model_arch_name(int arch);
int model_arch_parse(const char *name);   /* "gpt2" -> ARCH_GPT2, 0 if unknown */

/* Fill defaults of c's backbone (ops->defaults; nothing for an unknown arch). */
void model_config_defaults(model_config *c);
/* The model of config c (its backbone's defaults filled, every field checked): the tensor
 * table and one zeroed allocation for the parameters, which model_init_weights() or a
 * checkpoint fills. Gradients, AdamW state and activations come later (model_alloc_training,
 * model_alloc_acts). 0 ok, -1 with err (unknown arch, a bad field, out of memory). */
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
/* Rows of the token embedding: vocab, rounded up to a multiple of vocab_pad when it is above 1. */
size_t model_vocab_rows(const model_config *c);

float *model_tensor(const model *m, int i);
/* Copy src's weights into dst (the same backbone and shape but maybe another vocabulary),
 * tensor by tensor by name; a tensor whose size differs keeps the common prefix (for the (V, C)
 * token embedding: the rows of the shared ids). fresh_vocab = 1 (the QwenNet recipe: the body
 * kept, new token embedding and head): the token embedding and an untied head keep dst's fresh
 * initialisation, rescaled to the root-mean-square of src's. Returns the tensors of dst that
 * were copied or kept fresh on purpose (= dst->ntensors when everything matched). */
int model_copy_weights(model *dst, const model *src, int fresh_vocab);
/* Rows 0 .. rows-1 of dst's token embedding (and of an untied LM head and its bias) from src's
 * rows of another vocabulary: row r = the mean of src rows ids[r * stride + k], k < n[r]; rows
 * with n[r] = 0, and rows from `rows` on, are left as they are. The same backbone and width;
 * a mamba2 embedding padded beyond its vocabulary is refused. 0 ok, -1 (shapes, an id out of
 * range). */
int model_gather_rows(model *dst, const model *src, const int32_t *ids, const uint8_t *n, int stride, int rows);
/* The dropout seed of one site of a backbone (layer l, -1 for the embedding; site a number the
 * backbone picks): distinct streams for (micro-step seed m->dropout_seed, layer, site). */
uint64_t model_drop_seed(const model *m, int l, int site);
/* The start of forward of a backbone without learned positions (qwen2, linattn, mamba2):
 * x (N, C) = the rows of the token embedding emb (V, C) for tok, dropped out with p (the
 * embedding's seed: layer -1, site 0). model_embed_backward is its backward: dx through the
 * dropout (into scratch tmp (N, C) when p > 0), added into the rows of demb. */
void model_embed_forward(const model *m, float *x, const float *emb, const int *tok, int N, int C, float p);
void model_embed_backward(const model *m, float *demb, const float *dx, float *tmp, const int *tok, int N, int C, float p);
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

/* ---- decoding: the run state ----
 * Everything generation needs beside the weights: per-slot state (slots x slot_bytes: KV
 * cache or recurrent state), the backbone's packed weights and shared scratch (its own
 * struct, rs->priv), the packed LM head, the team's barrier. Weights packed at prec NN_FP32 or
 * NN_BF16 (bf16 panels: half the memory traffic, logits ~1e-3 relative from fp32). */
struct model_run {
    const model *m;
    int slots;              /* B: sequences decoded at once */
    int rows;               /* rows one step may take: max(slots, MODEL_RUN_PREFILL_ROWS); the
                               backbones size their per-row scratch by it */
    int *iota;              /* 0, 1, ..., ctx - 1: the positions of a prompt's rows */
    int prec;               /* NN_FP32 or NN_BF16 (weights, and the KV cache where the backbone says) */
    int nthreads;           /* W: workers the work is split into (thread t runs t, t + nt, ...) */
    size_t slot_bytes;
    uint8_t *state;         /* slot s at state + s * slot_bytes, zeroed at init */
    void *priv;             /* the backbone's run struct (packed weights, scratch, views) */
    nn_panels head;         /* the LM head (V, C) packed */
    nn_barrier bar;         /* the team's barrier: model_run_team() sets it up */
};
/* 0 ok; -1 out of memory, -2 prec not supported (message in err). nthreads <= 0: nn_threads(). */
int model_run_init(model_run *rs, const model *m, int slots, int prec, int nthreads, char *err, size_t errlen);
void model_run_free(model_run *rs);
/* Before a team of nt threads steps: one thread calls it (e.g. inside `omp single`). */
void model_run_team(model_run *rs, int nt);
void model_run_reset(model_run *rs, int slot);
/* One token per row as ops->step, then the LM head: logits (n, V). Called by every thread of
 * the team; returns after a barrier (logits complete for every thread). */
void model_run_step(model_run *rs, int t, int nt, int n, const int *slot, const int *tok, const int *pos, float *logits);
/* A prompt into one reset slot (ops->prefill, or steps); logits (V) of its last position. */
void model_run_prefill(model_run *rs, int t, int nt, int slot, const int *tok, int len, float *logits);
/* A backbone's prefill through its own step, MODEL_RUN_PREFILL_ROWS rows (positions) of the
 * slot at a time (ops->prefill, above). */
#define MODEL_RUN_PREFILL_ROWS 32
const float *model_run_prefill_rows(model_run *rs, int t, int nt, int slot, const int *tok, int len);
/* Convenience outside a parallel region: opens one with rs->nthreads threads per call. */
void model_run_step_all(model_run *rs, int n, const int *slot, const int *tok, const int *pos, float *logits);
/* barrier spin window and sleep after a timeout (barrier.h) for decoding teams */
#define MODEL_RUN_SPIN_NS 200000
#define MODEL_RUN_HOLD_NS 20000000
#endif
