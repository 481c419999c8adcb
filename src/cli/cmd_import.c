/* pktlm import SRC -o MODEL.ckpt: a Hugging Face model folder (GPT-2, Qwen2/Qwen2.5) as a
 * pktlm checkpoint; pktlm export-model MODEL.ckpt --format hf -o DIR: the way back
 * (docs/interop.md, "Weights"). */
#include "cli/cli.h"
#include "cli/opts.h"
#include "models/hf.h"
#include "train/checkpoint.h"
#include "corpus/tokens.h"
#include "corpus/bpe.h"
#include "corpus/bigrams.h"
#include "corpus/netgpt_vocab.h"
#include "util/util.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir_path(const char *p) { struct stat sb; return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode); }

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
    const char *V = "import", *src = NULL, *out = NULL, *ngv = NULL;
    long ctx = 0;
    const cli_opt opts[] = {
        OPT_POS("SRC", &src, "a Hugging Face model folder, or one .safetensors file with config.json beside it"),
        OPT_OUT(&out, "MODEL.ckpt", "the checkpoint written", .req = 1),
        OPT_LONG_IN("--ctx", &ctx, 2, 1048576, "N", "keep a context of N tokens (default: the config's; GPT-2 keeps the first N\n"
                    "learned positions, Qwen2's context only sizes activations and the KV cache;\n"
                    "mamba2 has no context length: N sizes training activations, default 4096)"),
        OPT_STR("--netgpt-vocab", &ngv, "FILE", "the UER vocabulary the model was trained with (NetGPT: ET-BERT's\n"
                "models/encryptd_vocab.txt): its rows are rearranged to pktlm's bigrams ids, so the\n"
                "checkpoint fine-tunes on `prep --tokens bigrams` corpora (docs/interop.md)"),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "SRC -o MODEL.ckpt [--ctx N] [--netgpt-vocab FILE]",
        .about = "Read a Hugging Face model folder (config.json + model.safetensors, or shards listed by\n"
                 "model.safetensors.index.json; or one .safetensors file with config.json beside it) and\n"
                 "write it as a pktlm checkpoint. Architectures: gpt2 (GPT2LMHeadModel), qwen2 (Qwen2 and\n"
                 "Qwen2.5, Qwen2ForCausalLM), mamba2 (mamba_ssm's MambaLMHeadModel with Mamba2 layers, as\n"
                 "NetSSM saves it, or transformers' Mamba2ForCausalLM). Weights in float32, bfloat16 or\n"
                 "float16 are stored as float32.\n"
                 "PyTorch pickles (pytorch_model.bin, UER/NetGPT checkpoints) are converted first with\n"
                 "  /usr/bin/python3 tools/torch_to_safetensors.py IN -o DIR",
        .more = "The model keeps its own vocabulary. With a byte-level BPE tokenizer.json beside the\n"
                "weights (GPT-2, Qwen2/Qwen2.5) the checkpoint records it, and `finetune --init` takes a\n"
                "corpus made with `prep --tokens bpe --tokenizer SRC/tokenizer.json`; otherwise fine-tune\n"
                "with --new-embeddings (docs/interop.md).",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    double t0 = now_sec();
    model m;
    hf_meta meta;
    char err[1024];
    if (hf_import(src, &m, &meta, err, sizeof err)) return cli_error(V, "%s", err);
    if (ctx && m.cfg.arch == ARCH_MAMBA2) m.cfg.ctx = (int)ctx;   /* recurrent: any length (it sizes training activations) */
    else if (ctx && ctx > m.cfg.ctx) {
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
    /* the model's own tokenizer, when it is one the bpe token format reads */
    char tpath[4200], tnote[5400] = "";   /* a note names tpath and an error: room for both */
    snprintf(tpath, sizeof tpath, "%s", src);
    if (!is_dir_path(tpath)) { char *sl = strrchr(tpath, '/'); if (sl) *sl = 0; else snprintf(tpath, sizeof tpath, "."); }
    size_t tl = strlen(tpath);
    snprintf(tpath + tl, sizeof tpath - tl, "/tokenizer.json");
    if (access(tpath, F_OK) == 0) {
        bpe *b = bpe_load(tpath, err, sizeof err);
        int eot = b ? bpe_added_id(b, "<|endoftext|>") : -1, nl = b ? bpe_text_id(b, "\n") : -1;
        if (b && eot >= 0 && eot < V_ && nl >= 0 && bpe_n_ids(b) <= V_) {
            st.tok_format = TOKFMT_BPE;
            st.tok_hash = bpe_hash(b);
            st.bos_id = st.eos_id = st.pad_id = eot;
            snprintf(tnote, sizeof tnote, "byte-level BPE (%s pattern), %d ids, <|endoftext|> %d: fine-tune on `pktlm prep "
                     "--tokens bpe --tokenizer %s`", bpe_pretokenizer(b) == BPE_PRE_QWEN2 ? "Qwen2" : "GPT-2", bpe_n_ids(b), eot, tpath);
        } else
            snprintf(tnote, sizeof tnote, "%s not used (%s): fine-tune with --new-embeddings", tpath,
                     !b ? err : eot < 0 ? "no <|endoftext|>" : nl < 0 ? "no token of \"\\n\"" : "more ids than the model has rows");
        bpe_free(b);
    }
    /* NetGPT: its rows follow its vocabulary file; gathered to the bigrams token format's ids */
    char nnote[4600] = "";   /* names the file */
    if (ngv) {
        netgpt_vocab nv;
        model g;
        model_config gc = m.cfg;
        gc.vocab = BIG_LABEL0;
        int rc = netgpt_vocab_load(&nv, ngv, err, sizeof err);
        if (!rc && (size_t)nv.n_lines != model_vocab_rows(&m.cfg)) {
            snprintf(err, sizeof err, "%s has %d lines but the model has %zu embedding rows: not the vocabulary it was trained "
                     "with", ngv, nv.n_lines, model_vocab_rows(&m.cfg));
            rc = -1;
        }
        if (!rc && m.cfg.vocab_pad > 1) { snprintf(err, sizeof err, "--netgpt-vocab: a %s model with a padded embedding "
                                                   "(NetGPT is a GPT-2)", model_arch_name(m.cfg.arch)); rc = -1; }
        if (!rc) rc = model_create(&g, &gc, err, sizeof err);
        if (!rc) {
            /* the body copied; <pkt> and <unlabelled> keep fresh rows at the scale of the model's own */
            model_init_weights(&g, 0x6e6574677074ull);
            model_copy_weights(&g, &m, 1);
            if (model_gather_rows(&g, &m, nv.pieces, nv.npieces, NGV_MAXP, BIG_SEED_VOCAB)) {
                snprintf(err, sizeof err, "%s: cannot gather the embedding rows", ngv);
                model_free(&g);
                rc = -1;
            }
        }
        if (!rc) {
            snprintf(nnote, sizeof nnote, "%s, %d lines: of the 65536 words %d are a line of it, %d its word pieces "
                     "(mean of their rows), %d [UNK]; <pkt> and <unlabelled> new rows", ngv, nv.n_lines, nv.whole, nv.split, nv.unk);
            model_free(&m);
            m = g;
            st.tok_format = TOKFMT_BIGRAMS;
            st.pad_id = BIG_PAD; st.bos_id = BIG_CLS; st.eos_id = BIG_SEP;
            st.n_labels = 0; st.label_base = BIG_LABEL0;
            st.tok_hash = 0;
            tnote[0] = 0;
        }
        netgpt_vocab_free(&nv);
        if (rc) { model_free(&m); return cli_error(V, "%s", err); }
    }
    if (ckpt_save(out, &m, &st, err, sizeof err)) { model_free(&m); return cli_error(V, "%s", err); }
    const model_config *c = &m.cfg;
    printf("imported     %s (%d safetensors file%s, %zu tensors%s)\n", src, meta.nfiles, meta.nfiles == 1 ? "" : "s",
           meta.file_tensors, meta.dtype_bf16 ? ", bfloat16 widened to float32" : "");
    if (c->arch == ARCH_MAMBA2)
        printf("model        mamba2 (%s): %d layers, d_model %d, d_state %d, expand %d, head_dim %d, d_conv %d, groups %d, "
               "chunk %d, ctx %d, vocab %d (padded), tied LM head\n", meta.mamba2_hf ? "transformers' Mamba2ForCausalLM" :
               "mamba_ssm's MambaLMHeadModel", c->layers, c->d_model, c->d_state, c->expand, c->head_dim,
               c->d_conv, c->groups, c->chunk, c->ctx, c->vocab);
    else
        printf("model        %s: %d layers, d_model %d, %d heads (%d key/value), d_ff %d, ctx %d, vocab %d, %s LM head\n",
               model_arch_name(c->arch), c->layers, c->d_model, c->heads, c->kv_heads, c->d_ff, c->ctx, c->vocab,
               c->tied ? "tied" : "untied");
    if (c->arch == ARCH_QWEN2) printf("qwen2        rope_theta %g, rms_norm_eps %g\n", c->rope_theta, c->norm_eps);
    printf("parameters   %zu (%.2f M)\n", m.nparams, m.nparams / 1e6);
    if (nnote[0]) printf("tokens       bigrams (prep --tokens bigrams): [CLS] %d, [SEP] %d, [PAD] %d; vocabulary %d\n"
                         "netgpt vocab %s\n", st.bos_id, st.eos_id, st.pad_id, c->vocab, nnote);
    else printf("tokens       bos %d, eos %d, pad %d (the model's own vocabulary)\n", st.bos_id, st.eos_id, st.pad_id);
    if (tnote[0]) printf("tokenizer    %s\n", tnote);
    printf("time         read %.2f s, total %.2f s; peak memory %.1f MB\n", t_read, now_sec() - t0, peak_rss_bytes() / 1e6);
    printf("wrote        %s\n", out);
    model_free(&m);
    return 0;
}

int cmd_export_model(int argc, char **argv) {
    const char *V = "export-model", *in = NULL, *out = NULL;
    int fmt = 0, layout = -1;
    const cli_opt opts[] = {
        OPT_POS("MODEL.ckpt", &in, "a pktlm checkpoint"),
        OPT_CHOICE("--format", &fmt, "hf", "F", "Hugging Face safetensors"),
        OPT_CHOICE("--layout", &layout, "mamba_ssm|hf", "L", "mamba2 only: mamba_ssm's MambaLMHeadModel (NetSSM; the default) or\n"
                   "transformers' own Mamba2ForCausalLM (model_type \"mamba2\"; groups 1 only)"),
        OPT_OUT(&out, "DIR", "the model folder written", .req = 1),
        OPT_END
    };
    const cli_cmd cmd = {
        .verb = V, .opts = opts,
        .usage = "MODEL.ckpt --format hf -o DIR [--layout mamba_ssm|hf]",
        .about = "Write a checkpoint as a Hugging Face model folder: DIR/config.json (GPT2LMHeadModel or\n"
                 "Qwen2ForCausalLM) and DIR/model.safetensors (float32), which transformers loads with\n"
                 "AutoModelForCausalLM.from_pretrained(DIR). A mamba2 checkpoint is written as mamba_ssm's\n"
                 "MambaLMHeadModel saves it (NetSSM's config.json; `tools/torch_to_safetensors.py --to-pickle\n"
                 "DIR -o DIR/pytorch_model.bin` for MambaLMHeadModel.from_pretrained), or with --layout hf as\n"
                 "transformers' Mamba2ForCausalLM. Classifier and field\n"
                 "checkpoints export their backbone and LM head. `pktlm import DIR` reads it back bit for bit.",
    };
    int parsed = cli_parse(&cmd, argc, argv);
    if (parsed) return parsed == 1 ? 0 : 2;
    model m;
    train_state st;
    char err[1024];
    if (ckpt_load(in, &m, &st, 0, err, sizeof err)) return cli_error(V, "%s", err);
    if (layout >= 0 && m.cfg.arch != ARCH_MAMBA2) {
        cli_error(V, "--layout is for mamba2 checkpoints (%s is %s)", in, model_arch_name(m.cfg.arch));
        model_free(&m);
        return 2;
    }
    hf_meta meta = { .bos_id = st.bos_id, .eos_id = st.eos_id, .pad_id = st.pad_id, .mamba2_hf = layout == 1 };
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
