#!/usr/bin/env python3
"""Reads `pktlm export --format netgpt` output as NetGPT / ET-BERT's UER-py code does, with plain
python3.

What is done here, and where UER-py (dbiir/UER-py, which NetGPT and ET-BERT are built on) does it:
  * uer/utils/vocab.py Vocab.load: word = line.strip().split()[0], id = line number;
    the special tokens [PAD] [SEP] [CLS] [UNK] [MASK] are looked up by name.
  * finetune/run_classifier.py count_labels_num: labels_num = distinct labels of the train
    file; read_dataset: header line -> column indices (line.strip().split("\\t")), each row
    line[:-1].split("\\t"), tgt = int(label), src = ids of [CLS] + tokenize(text_a), cut to
    --seq_length; evaluate: confusion[pred, gold] of labels_num x labels_num, accuracy
    correct / len(dataset) (so every file must have a row, and every gold label < labels_num).
  * uer/utils/tokenizers.py BertTokenizer: basic tokenizer (lower case, whitespace and
    punctuation split) then word pieces from the vocab; a word not in it becomes [UNK].
  * preprocess.py --corpus_path traffic.txt: every line tokenized the same way (blank lines
    separate documents).
Fails (exit 1, naming file and line) on what those steps would reject or get wrong.

usage: uer_reader.py OUT_DIR [--seq-length N]
"""
import os, re, sys, unicodedata

SPECIAL = ["[PAD]", "[SEP]", "[CLS]", "[UNK]", "[MASK]"]   # NetGPT's order; UER looks them up by name


def die(msg):
    print("uer_reader: " + msg, file=sys.stderr)
    sys.exit(1)


def load_vocab(path):
    w2i = {}
    for i, line in enumerate(open(path, encoding="utf-8")):
        w = line.strip().split()[0]
        if w in w2i:
            die("%s line %d: %r twice" % (path, i + 1, w))
        w2i[w] = i
    for s in SPECIAL:
        if s not in w2i:
            die("%s: no %s" % (path, s))
    return w2i


def is_punct(c):
    cp = ord(c)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(c).startswith("P")


PLAIN = re.compile(r"[0-9a-z]+\Z")        # a word the basic tokenizer leaves whole


def tokenize(text, vocab):
    """BertTokenizer: lower case, split on whitespace and punctuation, greedy word pieces."""
    out = []
    for w in text.strip().split():
        w = w.lower()
        if PLAIN.match(w):
            out.append(w)
            continue
        piece = ""
        for c in w:
            if is_punct(c):
                if piece: out.append(piece)
                out.append(c); piece = ""
            else:
                piece += c
        if piece: out.append(piece)
    res = []
    for w in out:
        if w in vocab:
            res.append(w); continue
        if len(w) > 200:                      # WordpieceTokenizer's max_input_chars_per_word
            res.append("[UNK]"); continue
        start, subs = 0, []
        while start < len(w):
            end = len(w)
            while end > start and (w[start:end] if start == 0 else "##" + w[start:end]) not in vocab:
                end -= 1
            if end == start:
                subs = ["[UNK]"]; break
            subs.append(w[start:end] if start == 0 else "##" + w[start:end]); start = end
        res += subs
    return res


def read_tsv(path, vocab, seq_length):
    rows, lens = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n == 0:
                cols = {c: i for i, c in enumerate(line.strip().split("\t"))}
                if "label" not in cols or "text_a" not in cols:
                    die("%s: header %r has no label and text_a columns" % (path, line.strip()))
                continue
            if not line.endswith("\n"):
                die("%s line %d: no newline at the end (UER cuts the last character)" % (path, n + 1))
            f_ = line[:-1].split("\t")
            try:
                tgt = int(f_[cols["label"]])
            except (ValueError, IndexError):
                die("%s line %d: label %r is not an int" % (path, n + 1, f_[0]))
            toks = ["[CLS]"] + tokenize(f_[cols["text_a"]], vocab)
            if "[UNK]" in toks:
                die("%s line %d: %d words not in the vocabulary" % (path, n + 1, toks.count("[UNK]")))
            if len(toks) < 2:
                die("%s line %d: empty text_a" % (path, n + 1))
            src = [vocab[t] for t in toks]
            lens.append(len(src))
            rows.append((src[:seq_length], tgt))
    if not rows:
        die("%s: no rows: UER's evaluate divides by len(dataset)" % path)
    return rows, lens


def main():
    a = sys.argv[1:]
    if not a:
        die("usage: uer_reader.py OUT_DIR [--seq-length N]")
    out, seq_length = a[0], 128
    if len(a) == 3 and a[1] == "--seq-length":
        seq_length = int(a[2])
    vocab = load_vocab(os.path.join(out, "vocab.txt"))
    train = os.path.join(out, "train_dataset.tsv")
    names = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "labels.txt"), encoding="utf-8")]
    if not os.path.exists(train) and names:
        die("%s: labels.txt lists labels but there is no train_dataset.tsv" % out)
    # count_labels_num
    labels_num = len({r[1] for r in read_tsv(train, vocab, seq_length)[0]}) if names else 0
    if [int(x[0]) for x in names] != list(range(labels_num)):
        die("labels.txt: indices are not 0..%d, the labels of train_dataset.tsv" % (labels_num - 1))
    total = over = 0
    for fn in ("train_dataset.tsv", "valid_dataset.tsv", "test_dataset.tsv"):
        p = os.path.join(out, fn)
        if not os.path.exists(p):
            print("%s: not there" % fn)
            continue
        rows, lens = read_tsv(p, vocab, seq_length)
        bad = [t for _, t in rows if not 0 <= t < labels_num]
        if bad:
            die("%s: label %d outside [0, labels_num = %d): UER's confusion matrix has no row for it" % (p, bad[0], labels_num))
        o = sum(l > seq_length for l in lens)
        total += len(rows); over += o
        print("%s: %d rows, %d longer than %d tokens, longest %d" % (fn, len(rows), o, seq_length, max(lens)))
    tp = os.path.join(out, "traffic.txt")
    docs = lines = 0
    if os.path.exists(tp):
        blank = True
        for n, line in enumerate(open(tp, encoding="utf-8"), 1):
            if not line.strip():
                if blank:
                    die("%s line %d: two blank lines in a row" % (tp, n))
                blank = True; docs += 1
                continue
            blank = False
            toks = tokenize(line, vocab)
            if "[UNK]" in toks or not toks:
                die("%s line %d: words not in the vocabulary" % (tp, n))
            lines += 1
        if not blank:
            die("%s: does not end with a blank line" % tp)
        if lines != 2 * docs:
            die("%s: %d text lines for %d packets: NetGPT writes each packet as two lines and a blank one" % (tp, lines, docs))
        print("traffic.txt: %d packets" % docs)
    print("uer_reader: %s ok: labels_num %d, %d rows (%d longer than %d tokens), %d pretraining packets" %
          (out, labels_num, total, over, seq_length, docs))


if __name__ == "__main__":
    main()
