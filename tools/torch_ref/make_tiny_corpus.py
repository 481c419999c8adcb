#!/usr/bin/python3
"""Writes tests/fixtures/tiny_corpus/{train,val}.tok: a small learnable token corpus in the
shard format of src/corpus/shard.h (docs/corpus.md), for the shell tests of `pktlm pretrain`
(`pktlm prep` is not needed). Run once; the output is committed. No torch needed."""
import os
import random
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tiny_corpus"
os.makedirs(out, exist_ok=True)
V, PAD, BOS, EOS = 40, 0, 1, 2
rng = random.Random(3)
for split, name, nseq in ((0, "train.tok", 240), (1, "val.tok", 40)):
    toks, index = [], []
    for i in range(nseq):
        n, k = rng.randint(5, 24), rng.randint(0, 29)
        seq = [BOS] + [4 + (k + j) % 30 for j in range(1, n - 1)] + [EOS]
        index.append((len(toks), len(seq), -1, 0, i, i))
        toks += seq
    hdr = [0] * 256
    hdr[0:8] = [0x4B4F5450, 1, V, PAD, BOS, EOS, 0, V]
    hdr[8], hdr[9], hdr[10], hdr[11], hdr[12] = len(index), 0, len(toks), 0, split
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<256i", *hdr))
        f.write(struct.pack("<%dH" % len(toks), *toks))
        for off, ln, lab, fi, fl, key in index:
            f.write(struct.pack("<QIiIIQ", off, ln, lab, fi, fl, key))
print("wrote", out)
