/* GPT-2 against the PyTorch reference (tools/torch_ref/gpt2_ref.py -> tests/fixtures/gpt2_ref.bin):
 * logits, loss, every parameter gradient, and the losses of several AdamW steps with warm-up,
 * cosine decay and clipping. Also: the generation step (KV cache) reproduces forward logits. */
#include "test.h"
#include "reffix.h"
#include "models/model.h"
#include "util/util.h"
#include <stdint.h>

static model_config fixture_cfg(const fixture *f) {
    model_config c = { .arch = ARCH_GPT2, .vocab = f->V, .ctx = f->ctx, .layers = f->L, .d_model = f->C, .heads = f->NH };
    model_config_defaults(&c);
    return c;
}

/* Gradient accumulation: two half batches with the shared 1/count scale give the full
 * batch's gradient. */
static void test_accumulation(void) {
    fixture f;
    model m;
    if (open_ref(&f, &m) != 0) return;
    int count = 0;
    for (int i = 0; i < f.B * f.T; i++) count += f.tgt[i] >= 0;
    model_zero_grad(&m);
    model_config c = m.cfg;
    (void)c;
    CHECK(model_alloc_acts(&m, 1, f.T) == 0);
    for (int b = 0; b < f.B; b++) {
        model_forward(&m, f.tok + b * f.T, f.tgt + b * f.T, 1, f.T);
        model_backward(&m, f.tok + b * f.T, f.tgt + b * f.T, 1, f.T, 1.0f / count);
    }
    for (int i = 0; i < m.ntensors; i++) {
        double e = rel_err(model_grad(&m, i), f.grads + m.offset[i], m.spec[i].size);
        CHECKF(e < 1e-5, "accumulated grad %s rel err %g", m.spec[i].name, e);
    }
    model_free(&m);
    free_fixture(&f);
}

int main(void) {
    spec = (ref_spec){ "tests/fixtures/gpt2_ref.bin", fixture_cfg, 16, 2e-3, 3e-2, 0.9998 };
    (void)t_shared; (void)t_tmpdir; (void)t_san;
    RUN(test_forward_backward);
    RUN(test_adamw_steps);
    RUN(test_accumulation);
    RUN(test_bf16_gradients);
    RUN(test_step_matches_forward);
    return t_done();
}
