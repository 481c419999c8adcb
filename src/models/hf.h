/* Hugging Face model folders in and out (docs/interop.md "Weights"): config.json plus
 * model.safetensors, or shards listed by model.safetensors.index.json.
 *
 *   GPT-2 (model_type "gpt2", GPT2LMHeadModel / GPT2Model): Conv1D weights are stored (in, out)
 *   and are transposed to pktlm's (out, in); the attention-mask buffers (h.N.attn.bias,
 *   masked_bias) are skipped; names with or without the "transformer." prefix.
 *   Qwen2 / Qwen2.5 (model_type "qwen2"): q/k/v rows (and biases) joined into qkv_proj, gate/up
 *   rows into gate_up_proj, rope_theta and rms_norm_eps from the config (model_config
 *   rope_theta, norm_eps), tied or untied head.
 *
 *   Mamba-2 (mamba_ssm's MambaLMHeadModel as NetSSM saves it: config.json with ssm_cfg
 *   {"layer": "Mamba2"}, no model_type; names backbone.embedding.weight, backbone.layers.N.norm
 *   .weight, backbone.layers.N.mixer.{in_proj, conv1d, dt_bias, A_log, D, norm, out_proj},
 *   backbone.norm_f.weight, and the tied lm_head.weight): the vocabulary padded to
 *   pad_vocab_size_multiple as the embedding is; conv1d weight (conv_dim, 1, W).
 *   Mamba-2 as transformers has it (model_type "mamba2", Mamba2ForCausalLM: hidden_size,
 *   state_size, num_heads, head_dim, expand, n_groups, conv_kernel, chunk_size, ...; names
 *   backbone.embeddings.weight, the same layer names as mamba_ssm's, backbone.norm_f.weight,
 *   lm_head.weight when it is saved): no vocabulary padding; refused where its semantics are
 *   not pktlm's (n_groups > 1: transformers' gated RMSNorm spans the whole inner width, pktlm's
 *   and mamba_ssm's each group; in/out_proj biases, no conv bias, a dt clamp, another eps or
 *   activation, an untied head).
 *   tcpflowgen (model_type "tcpflowgen": the config.json tools/torch_to_safetensors.py writes
 *   for its checkpoint): the linear-attention backbone; q_proj/k_proj/v_proj rows and biases
 *   joined into qkv, output.0 the final LayerNorm, output.1 the untied head with its bias.
 *
 * Every tensor pktlm needs must be present with the exact shape the config implies, and every
 * tensor of the files must be used (or be one of the known buffers): a weight pktlm would
 * silently drop is an error, not a different model. */
#ifndef PKTLM_HF_H
#define PKTLM_HF_H
#include "models/model.h"

/* the context given to an imported Mamba-2 (mamba_ssm's config has none: it only sizes
 * training activations; `pktlm import --ctx N` chooses another) */
#define HF_MAMBA2_CTX 4096

/* What a Hugging Face config says beside the shapes. */
typedef struct {
    int32_t bos_id, eos_id, pad_id;   /* -1 when the config has none */
    int dtype_bf16;                   /* the files held bfloat16 weights (widened exactly) */
    int mamba2_hf;                    /* mamba2: transformers' own layout (Mamba2ForCausalLM), not mamba_ssm's;
                                         set by import, chosen for export (export-model --layout hf) */
    int nfiles;                       /* safetensors files read */
    size_t file_tensors;              /* tensors in them */
} hf_meta;

/* Read a model folder (or one .safetensors file with config.json beside it) into m (created
 * here). 0 ok; -1 with err naming the file. */
int hf_import(const char *src, model *m, hf_meta *meta, char *err, size_t errlen);
/* Write dir/config.json and dir/model.safetensors (float32) for m; dir is created if needed.
 * meta may be NULL (no token ids in the config). 0 ok; -1 with err. */
int hf_export(const model *m, const hf_meta *meta, const char *dir, char *err, size_t errlen);
/* DIR/tokenizer.json (a `tokenizers` WordLevel model over whitespace-separated token names:
 * "0x45", "<pkt>", "<c2s>", "<t:12.6us>", "<label:3>", as docs/tokens.md names them) and
 * DIR/tokenizer_config.json for a model that speaks pktlm's token format (ids 0..vocab-1;
 * vocab >= TOK_LABEL0). 0 ok; -1 with err. */
int hf_write_tokenizer(const char *dir, int vocab, char *err, size_t errlen);
#endif
