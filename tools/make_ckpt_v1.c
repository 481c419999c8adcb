/* Writes tests/fixtures/ckpt_v1_{gpt2,qwen2}.ckpt: tiny checkpoints in the format of
 * checkpoint version 1 as written before the config table (header slots 0..61 only), kept so
 * that a test proves old files keep loading. Built once against the library of commit 4c47b5c:
 *   cc -std=c11 -D_GNU_SOURCE -Isrc -fopenmp tools/make_ckpt_v1.c build/rel/libpktlm.a -lm ...
 * Weights: init seed 7; training fields: recognisable values the test checks. */
#include "train/checkpoint.h"
#include <stdio.h>
#include <string.h>
int main(void) {
    for (int a = 0; a < 2; a++) {
        model_config c = { 0 };
        c.arch = a ? ARCH_QWEN2 : ARCH_GPT2;
        c.vocab = 40; c.ctx = 12; c.layers = 2; c.d_model = 16; c.heads = 4; c.dropout = 0.125f;
        if (a) c.kv_heads = 2;
        model m; char err[256];
        if (model_create(&m, &c, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        model_init_weights(&m, 7);
        train_state st; memset(&st, 0, sizeof st);
        st.pad_id = 0; st.bos_id = 1; st.eos_id = 2; st.n_labels = 3; st.label_base = 37;
        st.vocab_hash = 0x0123456789abcdefull; snprintf(st.data_dir, sizeof st.data_dir, "/tmp/corpus-v1");
        st.batch = 4; st.accum = 2; st.seq_len = 12; st.warmup = 5; st.total_steps = 100; st.lr = 3e-4f;
        st.min_frac = 0.1f; st.weight_decay = 0.01f; st.beta1 = 0.9f; st.beta2 = 0.95f; st.eps = 1e-8f; st.clip = 1;
        st.seed = 1337; st.step = 42; st.tokens = 4242;
        char p[64]; snprintf(p, sizeof p, "tests/fixtures/ckpt_v1_%s.ckpt", a ? "qwen2" : "gpt2");
        if (ckpt_save(p, &m, &st, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        model_free(&m);
    }
    return 0;
}
