/* A corpus's vocabulary file, CORPUS/vocab.json (docs/tokens.md): the one source of truth for
 * its label names. labels.txt beside it is written for people (one escaped name per line) and
 * never read back: a folder named "a<newline>b" is one label, and a labels.txt edited by hand
 * cannot rename or reorder the classes of a model.
 *
 * corpus_labels() is what every verb that reads a corpus calls, so that a vocab.json that is
 * missing, damaged, or from another prep run than the shards is noticed there and then, not
 * only by `pretrain --resume` (whose vocabulary hash covers the file's bytes). */
#ifndef PKTLM_VOCAB_H
#define PKTLM_VOCAB_H
#include <stddef.h>
#include "corpus/shard.h"

/* The label names of the corpus in dir, checked against its shard sh (vocabulary size, label
 * base, number of labels): an array of sh->n_labels strings (corpus_labels_free), or NULL
 * with err naming the file and what is wrong. */
char **corpus_labels(const char *dir, const shard *sh, char *err, size_t errlen);
void corpus_labels_free(char **names, int n);

/* A --tokens bpe corpus: its tokenizer (the tokenizer.json vocab.json names), checked against
 * the hash sh's header records, attached to sh (sh->bpe, freed by shard_free) so that its
 * sequences read back as packets. Other formats: nothing to do. 0 ok; -1 with err when the
 * file is gone or changed. */
int corpus_tokenizer(const char *dir, shard *sh, char *err, size_t errlen);
/* The same for a corpus directory alone: the tokenizer its vocab.json names, checked against
 * hash (a model's record of it); NULL with err. */
struct bpe *corpus_bpe(const char *dir, uint64_t hash, char *err, size_t errlen);

/* name written for people: backslash, newline, CR, tab and other control bytes escaped as in
 * C ("\\", "\n", "\r", "\t", "\x01"), so that one label is one line of labels.txt. */
void label_escape(char *out, size_t n, const char *name);
#endif
