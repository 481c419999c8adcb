/* The model file (docs/checkpoint.md): a 1024-byte header (256 x int32, llm.c style), then the
 * parameters, then (when training state is kept) AdamW m and v, all float32 little-endian in
 * the model's tensor-table order. A checksum over everything after the header detects
 * truncation and corruption; a second one covers the header. Files are written to
 * PATH.tmp.PID, fsync'ed and renamed over PATH.
 *
 * This stage owns the header slots that say what the model is and what it speaks:
 *   0 magic, 1 version, the config fields at the slots of model_fields[] (2..11, 63..95),
 *   12..18 token ids and vocabulary hash, 19..20 parameter count, 21 has_opt, 96 token format, 98 unit,
 *   100..101 the bpe format's tokenizer hash,
 *   52..53 payload checksum, 61..62 header checksum, 128..255 corpus directory.
 * The training stage (train/checkpoint.h) fills and reads the other slots (progress,
 * optimizer, task) through ckpt_header; generation and classification load models here
 * without knowing about training. */
#ifndef PKTLM_MODELS_CHECKPOINT_H
#define PKTLM_MODELS_CHECKPOINT_H
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "models/model.h"

#define CKPT_MAGIC 0x4b434b50u   /* "PKCK" */
#define CKPT_VERSION 1
#define CKPT_HDR_BYTES 1024

/* What the model speaks: its token ids and the corpus vocabulary it was trained on. */
typedef struct {
    int32_t pad_id, bos_id, eos_id, n_labels, label_base;
    uint64_t vocab_hash;
    int32_t tok_format;          /* TOKFMT_* of corpus/tokfmt.h (header slot 96; 0 = bytes in older files) */
    int32_t unit;                /* what one training sequence was (header slot 98): PREP_UNIT_* of corpus/prep.h,
                                    0 flow (also older files), 1 packet, 2 capture window; generate reads it */
    uint64_t tok_hash;           /* bpe: its tokenizer.json (bpe_hash; slots 100..101, 0 otherwise) */
    char data_dir[512];
} model_vocab;

/* The raw header; the training stage's slots are read and written with these. */
typedef struct { uint8_t b[CKPT_HDR_BYTES]; } ckpt_header;
void ckpt_put32(ckpt_header *h, int slot, uint32_t v);
void ckpt_put64(ckpt_header *h, int slot, uint64_t v);
void ckpt_putf(ckpt_header *h, int slot, float f);
uint32_t ckpt_get32(const ckpt_header *h, int slot);
uint64_t ckpt_get64(const ckpt_header *h, int slot);
float ckpt_getf(const ckpt_header *h, int slot);
/* model-owned slots other than the config fields */
enum { CKPT_H_PAD = 12, CKPT_H_BOS, CKPT_H_EOS, CKPT_H_NLABELS, CKPT_H_LABELBASE, CKPT_H_VHASH = 17,
       CKPT_H_NPARAMS = 19, CKPT_H_HASOPT = 21, CKPT_H_CHECKSUM = 52, CKPT_H_HDRSUM = 61, CKPT_H_TOKFMT = 96, CKPT_H_UNIT = 98, CKPT_H_TOKHASH = 100,
       CKPT_H_DATADIR = 128 };

/* Write the model (+ m, v when has_opt and the model has them) at f's position. h: the
 * training stage's slots already filled (NULL: none); the model's slots are filled here.
 * 0 ok, -1 write error. */
int ckpt_write_model(FILE *f, const model *m, const model_vocab *v, const ckpt_header *h, int has_opt);
/* The same into a file of its own, atomically (temp file, fsync, rename). 0 ok, -1 with err. */
int ckpt_save_model(const char *path, const model *m, const model_vocab *v, const ckpt_header *h, int has_opt, char *err,
                    size_t errlen);
/* Read the header only, checked (for `pktlm info`, to size a model). h, np may be NULL. */
int ckpt_peek_model(const char *path, model_config *cfg, model_vocab *v, ckpt_header *h, uint64_t *np, char *err,
                    size_t errlen);
/* Create the model from the checkpoint and load its weights (and m, v when want_opt: the file
 * must have them; training buffers are allocated). h may be NULL. 0 ok, -1 with err. */
int ckpt_load_model(const char *path, model *m, model_vocab *v, ckpt_header *h, int want_opt, char *err, size_t errlen);
/* The same from f's position, a checkpoint of `bytes` bytes embedded in another file (classifier
 * files, docs/classify.md); closes f. */
int ckpt_read_model_fp(FILE *f, const char *path, uint64_t bytes, model *m, model_vocab *v, ckpt_header *h, int want_opt,
                       char *err, size_t errlen);
/* Bytes of a checkpoint of m. */
uint64_t ckpt_bytes(const model *m, int has_opt);
/* Whether the optimizer state follows the parameters in a header read by the functions above. */
int ckpt_has_opt(const ckpt_header *h);
#endif
