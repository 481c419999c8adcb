#!/usr/bin/python3
"""Reference byte-level BPE (GPT-2 / Qwen2 style) in plain Python, for src/corpus/bpe.c.

Debian 12 packages neither `tokenizers` nor `transformers` nor `regex`, so this is written from
the definitions, independently of the C code:
  * pre-tokenisation with Python's `re` engine, using the two tokenizers' published patterns
    with \\p{L} and \\p{N} spelled for ASCII ([A-Za-z], [0-9]): the C code scans by hand;
  * GPT-2's bytes_to_unicode table;
  * the textbook merge loop (encoder.py of GPT-2: merge the lowest-ranked pair, every
    occurrence left to right, until none applies): the C code merges one pair at a time.
It writes two tiny tokenizer.json files in the Hugging Face `tokenizers` layout (merges trained
here on NetGPT-style hex text and some English; GPT-2's ByteLevel pre-tokenizer with merges as
"a b" strings; Qwen2's Split + ByteLevel with merges as ["a", "b"] pairs, as newer files have
them) and, for a list of texts, the ids this reference gives:

    /usr/bin/python3 tools/torch_ref/bpe_ref.py [OUT_DIR]   (default tests/fixtures/bpe)

OUT_DIR/{gpt2,qwen2}/tokenizer.json and OUT_DIR/{gpt2,qwen2}/cases.txt: one case a line,
"HEX-OF-TEXT<TAB>id id id ...".
"""
import collections
import json
import os
import random
import re
import sys

GPT2_PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""", re.ASCII)
QWEN2_PAT = re.compile(r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""", re.ASCII)
# the patterns as the real tokenizer.json files spell them
GPT2_JSON = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN2_JSON = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()


def pretokens(text, style):
    return (GPT2_PAT if style == "gpt2" else QWEN2_PAT).findall(text)


def to_units(piece):
    return [B2U[b] for b in piece.encode("ascii")]


def bpe_word(units, ranks):
    word = list(units)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def encode(text, style, vocab, ranks):
    ids = []
    for piece in pretokens(text, style):
        ids += [vocab[u] for u in bpe_word(to_units(piece), ranks)]
    return ids


def train(corpus, style, n_merges):
    words = collections.Counter(tuple(to_units(p)) for t in corpus for p in pretokens(t, style))
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])   # ties: the first in sorted order
        merges.append(best)
        nw = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] += c
        words = nw
    return merges


def hex_words(pkt):
    """NetGPT's text of a packet: byte i and i+1 as four hex digits, for every i"""
    return " ".join("%02x%02x" % (pkt[i], pkt[i + 1]) for i in range(len(pkt) - 1))


def sample_texts(rng):
    pkts = []
    for _ in range(12):
        n = rng.randint(20, 60)
        p = bytes([0x45, 0x00, 0x00, n, rng.randint(0, 255), rng.randint(0, 255), 0x40, 0x00, 0x40, 6] +
                  [rng.choice([0, 0, 0, 0x10, 0xc0, 0xa8, 0xff, rng.randint(0, 255)]) for _ in range(n - 10)])
        pkts.append(p)
    hex_texts = ["".join("\n" + hex_words(p) for p in pkts[i:i + 3]) for i in range(0, 12, 3)]
    english = ["Hello world, it's a test. I'M here; they'll see what we've done!!",
               "  leading spaces\tand tabs\r\nwindows lines\n\n\nthree breaks   trailing   ",
               "numbers 12345 and 6 7 89, mixed abc123def 0x45ff",
               "punct... ??? (a) [b] {c} <d> 'quoted' \"double\" a--b a__b",
               "DON'T Won't I'd you'Ve"]
    return hex_texts + english, english


def write(out, style, rng):
    texts, english = sample_texts(rng)
    merges = train(texts, style, 400)
    units = sorted(set(B2U.values()))
    rng.shuffle(units)   # ids in no particular order: the C code must use the file's ids
    vocab = {}
    for u in units:
        vocab[u] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    eot = len(vocab)
    added = [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}]
    if style == "gpt2":
        vocab["<|endoftext|>"] = eot   # GPT-2 lists it in the vocabulary too
        pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        mlist = ["%s %s" % m for m in merges]
        norm = None
    else:
        added.append(dict(added[0], id=eot + 1, content="<|im_start|>"))
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_JSON}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
        mlist = [list(m) for m in merges]
        norm = {"type": "NFC"}
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": norm,
          "pre_tokenizer": pre, "post_processor": None,
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                    "ignore_merges": False, "vocab": vocab, "merges": mlist}}
    d = os.path.join(out, style)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tj, f, indent=1, ensure_ascii=False)
        f.write("\n")
    ranks = {m: i for i, m in enumerate(merges)}
    # cases: the training texts, new packets' hex text, and edge cases of the patterns
    extra, _ = sample_texts(random.Random(99))
    cases = texts + extra[:2] + [" ", "\n", "a", "7", "  ", "x \n", "\n\n", " \r\n ", "'s", "'S", "ab'll",
                                 "4500 0000\n4500 abcd", "ffff ffff ffff", "  4500", "4500  ", "\t4500", "a\n\nb"]
    with open(os.path.join(d, "cases.txt"), "w") as f:
        for t in cases:
            ids = encode(t, style, vocab, ranks)
            # decoding is the inverse (byte-level): check it here too
            inv = {v: k for k, v in vocab.items()}
            u2b = {u: b for b, u in B2U.items()}
            assert bytes(u2b[c] for i in ids for c in inv[i]).decode("ascii") == t
            f.write("%s\t%s\n" % (t.encode("ascii").hex(), " ".join(map(str, ids))))
    print("wrote %s: %d ids, %d merges, %d cases" % (d, len(vocab) + len(added) - (style == "gpt2"), len(merges), len(cases)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/bpe"
    write(out, "gpt2", random.Random(5))
    write(out, "qwen2", random.Random(6))


if __name__ == "__main__":
    main()
