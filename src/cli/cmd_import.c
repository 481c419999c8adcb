/* pktlm import SRC -o MODEL.ckpt: a Hugging Face model folder (GPT-2, Qwen2/Qwen2.5) as a
 * pktlm checkpoint; pktlm export-model MODEL.ckpt --format hf -o DIR: the way back
 * (docs/interop.md, "Weights"). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "models/hf.h"
#include "train/checkpoint.h"
#include "corpus/tokens.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>

/* m with a shorter context: the same tensors, GPT-2's wpe cut to its first rows */
static int shrink_ctx(model *m, int ctx, char *err, size_t errlen) {
    model s;
    model_config c = m->cfg;
    c.ctx = ctx;
    if (model_param_count(&c) == m->nparams) { m->cfg.ctx = ctx; return 0; }   /* Qwen2: no positions to cut */
    if (model_create(&s, &c, err, errlen)) return -1;
    for (int i = 0; i < m->ntensors; i++) {
        size_t n = s.spec[i].size < m->spec[i].size ? s.spec[i].size : m->spec[i].size;
        memcpy(model_tensor(&s, i), model_tensor(m, i), n * sizeof(float));
    }
    model_free(m);
    *m = s;
    return 0;
}

int cmd_import(int argc, char **argv) {
    const char *V = "import", *src = NULL, *out = NULL;
    long ctx = 0;
    const cli_opt opts[] = {
        OPT_POS("SRC", &src, "a Hugging Face model folder, or one .safetensors file with config.json beside it"),
        OPT_OUT(&out, "MODEL.ckpt", "the checkpoint written", .req = 1),
        OPT_LONG_IN("--ctx", &ctx, 2, 1048576, "N", "keep a context of N tokens (default: the config's; GPT-2 keeps the first N\n"
                    "learned positions, Qwen2's context only sizes activations and the KV cache)"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "SRC -o MODEL.ckpt [--ctx N]",
        .about = "Read a Hugging Face model folder (config.json + model.safetensors, or shards listed by\n"
                 "model.safetensors.index.json; or one .safetensors file with config.json beside it) and\n"
                 "write it as a pktlm checkpoint. Architectures: gpt2 (GPT2LMHeadModel), qwen2 (Qwen2 and\n"
                 "Qwen2.5, Qwen2ForCausalLM). Weights in float32, bfloat16 or float16 are stored as float32.\n"
                 "PyTorch pickles (pytorch_model.bin, UER/NetGPT checkpoints) are converted first with\n"
                 "  /usr/bin/python3 tools/torch_to_safetensors.py IN -o DIR",
        .more = "The model keeps its own vocabulary: `finetune --init` needs a corpus whose token ids it\n"
                "speaks (docs/interop.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    double t0 = now_sec();
    model m;
    hf_meta meta;
    char err[1024];
    if (hf_import(src, &m, &meta, err, sizeof err)) return cli_error(V, "%s", err);
    if (ctx && ctx > m.cfg.ctx) {
        cli_error(V, "--ctx %ld is longer than the model's context %d", ctx, m.cfg.ctx);
        model_free(&m);
        return 2;
    }
    if (ctx && ctx < m.cfg.ctx && shrink_ctx(&m, (int)ctx, err, sizeof err)) { model_free(&m); return cli_error(V, "%s", err); }
    double t_read = now_sec() - t0;
    train_state st;
    memset(&st, 0, sizeof st);
    /* the model's own token ids; a config without them gets 0 (checkpoints need ids in range) */
    int V_ = m.cfg.vocab;
    st.eos_id = meta.eos_id >= 0 && meta.eos_id < V_ ? meta.eos_id : 0;
    st.bos_id = meta.bos_id >= 0 && meta.bos_id < V_ ? meta.bos_id : st.eos_id;
    st.pad_id = meta.pad_id >= 0 && meta.pad_id < V_ ? meta.pad_id : st.eos_id;
    st.label_base = V_;
    snprintf(st.data_dir, sizeof st.data_dir, "%s", "");
    if (ckpt_save(out, &m, &st, err, sizeof err)) { model_free(&m); return cli_error(V, "%s", err); }
    const model_config *c = &m.cfg;
    printf("imported     %s (%d safetensors file%s, %zu tensors%s)\n", src, meta.nfiles, meta.nfiles == 1 ? "" : "s",
           meta.file_tensors, meta.dtype_bf16 ? ", bfloat16 widened to float32" : "");
    printf("model        %s: %d layers, d_model %d, %d heads (%d key/value), d_ff %d, ctx %d, vocab %d, %s LM head\n",
           model_arch_name(c->arch), c->layers, c->d_model, c->heads, c->kv_heads, c->d_ff, c->ctx, c->vocab,
           c->tied ? "tied" : "untied");
    if (c->arch == ARCH_QWEN2) printf("qwen2        rope_theta %g, rms_norm_eps %g\n", c->rope_theta, c->norm_eps);
    printf("parameters   %zu (%.2f M)\n", m.nparams, m.nparams / 1e6);
    printf("tokens       bos %d, eos %d, pad %d (the model's own vocabulary)\n", st.bos_id, st.eos_id, st.pad_id);
    printf("time         read %.2f s, total %.2f s; peak memory %.1f MB\n", t_read, now_sec() - t0, peak_rss_bytes() / 1e6);
    printf("wrote        %s\n", out);
    model_free(&m);
    return 0;
}

int cmd_export_model(int argc, char **argv) {
    const char *V = "export-model", *in = NULL, *out = NULL;
    int fmt = 0;
    const cli_opt opts[] = {
        OPT_POS("MODEL.ckpt", &in, "a pktlm checkpoint"),
        OPT_CHOICE("--format", &fmt, "hf", "F", "Hugging Face safetensors"),
        OPT_OUT(&out, "DIR", "the model folder written", .req = 1),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "MODEL.ckpt --format hf -o DIR",
        .about = "Write a checkpoint as a Hugging Face model folder: DIR/config.json (GPT2LMHeadModel or\n"
                 "Qwen2ForCausalLM) and DIR/model.safetensors (float32), which transformers loads with\n"
                 "AutoModelForCausalLM.from_pretrained(DIR). Classifier and field checkpoints export their\n"
                 "backbone and LM head. `pktlm import DIR` reads it back bit for bit.",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    model m;
    train_state st;
    char err[1024];
    if (ckpt_load(in, &m, &st, 0, err, sizeof err)) return cli_error(V, "%s", err);
    hf_meta meta = { .bos_id = st.bos_id, .eos_id = st.eos_id, .pad_id = st.pad_id };
    int rc = hf_export(&m, &meta, out, err, sizeof err);
    /* a model of pktlm's token format: its vocabulary as a tokenizer (an imported model's own
     * tokenizer files are the ones it came with) */
    int pk = st.pad_id == TOK_PAD && st.bos_id == TOK_BOS && st.eos_id == TOK_EOS && m.cfg.vocab >= TOK_LABEL0;
    if (rc == 0 && pk) rc = hf_write_tokenizer(out, m.cfg.vocab, err, sizeof err);
    if (rc == 0)
        printf("wrote %s/config.json, model.safetensors%s: %s, %zu parameters (%.1f MB)\n", out,
               pk ? ", tokenizer.json, tokenizer_config.json" : "", model_arch_name(m.cfg.arch), m.nparams, m.nparams * 4 / 1e6);
    model_free(&m);
    return rc ? cli_error(V, "%s", err) : 0;
}
