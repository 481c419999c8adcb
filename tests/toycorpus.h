/* A learnable toy corpus for training tests: sequences "bos, k, k+1, k+2, ..., eos" (mod 30,
 * offset 4; pad 0, bos 1, eos 2), lengths 5..24, nseq training and nseq/4 validation
 * sequences drawn from seed; DIR/train.tok, DIR/val.tok and DIR/vocab.json. */
#ifndef PKTLM_TOYCORPUS_H
#define PKTLM_TOYCORPUS_H
#include "corpus/shard.h"
#include "util/util.h"
#include <stdio.h>
#include <sys/stat.h>

static __attribute__((unused)) void make_toy_corpus(const char *dir, int vocab, int nseq, uint64_t seed) {
    mkdir(dir, 0755);
    for (int split = 0; split < 2; split++) {
        shard_builder b;
        shard_builder_init(&b, vocab, 0, 1, 2, 0, vocab, split);
        uint64_t s = seed + (uint64_t)split;
        for (int i = 0; i < (split ? nseq / 4 : nseq); i++) {
            tok_t tok[64];
            int len = 5 + (int)(splitmix64(&s) % 20), k = (int)(splitmix64(&s) % 30);
            tok[0] = 1;
            for (int j = 1; j < len - 1; j++) tok[j] = (tok_t)(4 + (k + j) % 30);
            tok[len - 1] = 2;
            shard_builder_add(&b, tok, (uint32_t)len, -1, 0, (uint32_t)i, (uint64_t)i);
        }
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, split ? "val.tok" : "train.tok");
        shard_write(&b, p);
        shard_builder_free(&b);
    }
    /* the vocabulary file every corpus has (corpus/vocab.h): no labels */
    char p[600], v[200];
    snprintf(p, sizeof p, "%s/vocab.json", dir);
    int n = snprintf(v, sizeof v, "{\"vocab_size\": %d, \"label_base\": %d, \"labels\": []}\n", vocab, vocab);
    write_file_atomic(p, v, (size_t)n);
}
#endif
