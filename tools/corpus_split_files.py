#!/usr/bin/env python3
"""Capture files that contribute sequences to one split of a `pktlm prep` corpus, one path a line.

    tools/corpus_split_files.py CORPUS_DIR [train|val|test]     (default train)

Reads SPLIT.tok's index (docs/corpus.md: 32-byte entries after the tokens; `file` indexes the
manifest's `inputs`) and prints those inputs' paths. (python/pktlm.py reads whole corpora
into numpy / PyTorch: docs/python.md.) With `--split capture` this is the list of
captures that may be used for unsupervised pretraining without touching validation or test
captures (docs/classify.md). Plain Python, no dependencies."""
import json, os, struct, sys

def split_files(corpus, split):
    with open(os.path.join(corpus, split + '.tok'), 'rb') as f:
        hd = f.read(1024)
        magic, version = struct.unpack_from('<II', hd, 0)
        if magic != 0x4b4f5450 or version not in (1, 2):
            sys.exit('%s/%s.tok: not a pktlm token shard (magic %#x version %d)' % (corpus, split, magic, version))
        n_seqs, n_tokens = struct.unpack_from('<QQ', hd, 32)
        width = 2 if version == 1 else struct.unpack_from('<I', hd, 56)[0]   # bytes per token id
        f.seek(1024 + width * n_tokens)
        idx = f.read(32 * n_seqs)
    if len(idx) != 32 * n_seqs:
        sys.exit('%s/%s.tok: index truncated at byte %d' % (corpus, split, 1024 + width * n_tokens + len(idx)))
    files = sorted({struct.unpack_from('<I', idx, 32 * i + 16)[0] for i in range(n_seqs)})
    inputs = json.load(open(os.path.join(corpus, 'manifest.json')))['inputs']
    return [inputs[i]['path'] for i in files]

if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] in ('-h', '--help'):
        print(__doc__.strip()); sys.exit(0 if len(sys.argv) > 1 else 2)
    for p in split_files(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else 'train'):
        print(p)
