/* The backbone registry (model.h): one line per architecture id. A new backbone adds its
 * ops here and its file beside this one (docs/model.md, "Adding a backbone"). */
#include "models/model.h"

extern const model_ops gpt2_ops, qwen2_ops, linattn_ops;

const model_backbone model_backbones[ARCH_MAX] = {
    [ARCH_GPT2] = { "gpt2", &gpt2_ops },
    [ARCH_QWEN2] = { "qwen2", &qwen2_ops },
    [ARCH_MAMBA2] = { "mamba2", NULL },     /* i15 */
    [ARCH_LINATTN] = { "linattn", &linattn_ops },
};
