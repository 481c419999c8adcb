"""Read pktlm's files from Python: plain python3 + numpy, no pktlm build needed.

    import pktlm, torch
    train = pktlm.Corpus("CORPUS").split("train", seq_len=128, hide_label=True, labelled_only=True)
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)  # (tokens (32,128) int64, labels (32,))

What it reads (formats: docs/corpus.md, docs/tokens.md, docs/classify.md):
  Shard(path)           a token shard (train.tok, val.tok, test.tok), versions 1 and 2, ids 2 or 4
                        bytes wide; checked as pktlm's shard_load checks it (errors name the file
                        and the byte offset). A map-style dataset: shard[i] -> (tokens, label).
  read_vocab(path)      vocab.json (a dict; "labels" are the label names in id order)
  read_manifest(path)   manifest.json (a dict)
  Corpus(dir)           the three together: .vocab, .manifest, .label_names, .split(name)
  read_classify_json(f) the lines of `pktlm classify --json` (a list of dicts)

Every sequence's token 1 is its label token (label_base + label, or <unlabelled>);
hide_label=True replaces it with <unlabelled> as pktlm's fine-tuning and classification do,
so that a classifier never sees the answer. Tokens are memory-mapped: a corpus larger than
memory works, and DataLoader workers share the pages."""
import json
import os

import numpy as np

SHARD_MAGIC = 0x4B4F5450  # "PTOK"
HEADER_BYTES = 1024
# one index entry (32 bytes): docs/corpus.md
INDEX_DTYPE = np.dtype([("off", "<u8"), ("len", "<u4"), ("label", "<i4"),
                        ("file", "<u4"), ("flow", "<u4"), ("key", "<u8")])
TOKEN_FORMATS = {0: "bytes", 1: "fields", 2: "bigrams", 3: "bpe"}
SPLIT_NAMES = {0: "train", 1: "val", 2: "test"}


class FormatError(ValueError):
    """A file that is not what it should be; the message names the file and the byte offset."""


class Shard:
    """One token shard. len(shard) sequences; shard[i] = (tokens, label): tokens an int64 array
    (its own length, or seq_len: cut, then padded with pad_id), label an int (-1 unlabelled).

    Attributes: vocab_size, pad_id, bos_id, eos_id, n_labels, label_base, split ("train", ...),
    token_format ("bytes", "fields", "bigrams", "bpe"), version (1 or 2), id_bytes (2 or 4),
    tok_hash and pkt_id (bpe: the tokenizer's hash, the id that starts a packet),
    tokens (all ids, memory-mapped), index (structured array: off, len, label, file, flow, key;
    file indexes the manifest's "inputs", flow is the flow id in that capture)."""

    def __init__(self, path, seq_len=None, hide_label=False, unlabelled_id=None, labelled_only=False):
        self.path = str(path)
        with open(self.path, "rb") as f:
            head = f.read(HEADER_BYTES)
        if len(head) != HEADER_BYTES:
            raise FormatError("%s: truncated header at byte offset %d (need %d)" % (self.path, len(head), HEADER_BYTES))
        u = np.frombuffer(head, dtype="<u4")
        if u[0] != SHARD_MAGIC:
            raise FormatError("%s: not a pktlm token shard (bad magic at byte offset 0)" % self.path)
        self.version = int(u[1])
        if self.version not in (1, 2):
            raise FormatError("%s: shard version %d, this reader reads versions 1 and 2" % (self.path, self.version))
        fmt = 0 if self.version == 1 else int(u[13])      # version 1: byte format, 2-byte ids
        self.id_bytes = 2 if self.version == 1 else int(u[14])
        if fmt not in TOKEN_FORMATS:
            raise FormatError("%s: unknown token format %d at byte offset 52" % (self.path, fmt))
        if self.id_bytes not in (2, 4):
            raise FormatError("%s: corrupt header: %d bytes per token id at byte offset 56 (2 or 4)" % (self.path, self.id_bytes))
        self.token_format = TOKEN_FORMATS[fmt]
        i = u.view("<i4")
        self.vocab_size, self.pad_id, self.bos_id, self.eos_id, self.n_labels, self.label_base = (int(x) for x in i[2:8])
        q = np.frombuffer(head[32:48], dtype="<u8")
        self.n_seqs, self.n_tokens = int(q[0]), int(q[1])
        # bpe (an imported model's tokenizer): its hash and the id that starts a packet; 0 otherwise
        self.tok_hash, self.pkt_id = int(np.frombuffer(head[60:68], dtype="<u8")[0]), int(i[17])
        self.split = SPLIT_NAMES.get(int(u[12]), str(int(u[12])))
        if (self.vocab_size <= 0 or (self.id_bytes == 2 and self.vocab_size > 65536) or self.n_tokens > 1 << 40
                or self.n_seqs >= 1 << 32):
            raise FormatError("%s: implausible header (vocab %d, %d tokens, %d sequences)"
                              % (self.path, self.vocab_size, self.n_tokens, self.n_seqs))
        for name, v, off, lo, hi in (("pad id", self.pad_id, 12, 0, self.vocab_size - 1),
                                     ("bos id", self.bos_id, 16, 0, self.vocab_size - 1),
                                     ("eos id", self.eos_id, 20, 0, self.vocab_size - 1),
                                     ("label count", self.n_labels, 24, 0, self.vocab_size),
                                     ("label base", self.label_base, 28, 0, self.vocab_size - self.n_labels)):
            if not lo <= v <= hi:
                raise FormatError("%s: corrupt header: %s out of range (vocabulary %d) at byte offset %d"
                                  % (self.path, name, self.vocab_size, off))
        if self.token_format == "bpe" and not (0 <= self.pkt_id < self.pad_id and self.label_base == self.pad_id + 2):
            raise FormatError("%s: corrupt header: bpe layout out of range (vocabulary %d) at byte offset 68"
                              % (self.path, self.vocab_size))
        tok_end = HEADER_BYTES + self.id_bytes * self.n_tokens
        want = tok_end + INDEX_DTYPE.itemsize * self.n_seqs
        size = os.stat(self.path).st_size
        if size < want:
            raise FormatError("%s: truncated at byte offset %d (the header's %d tokens and %d sequences need %d bytes)"
                              % (self.path, size, self.n_tokens, self.n_seqs, want))
        if size > want:
            raise FormatError("%s: %d unexpected bytes after the index at byte offset %d (corrupt)"
                              % (self.path, size - want, want))
        dt = "<u2" if self.id_bytes == 2 else "<u4"
        self.tokens = (np.memmap(self.path, dtype=dt, mode="r", offset=HEADER_BYTES, shape=(self.n_tokens,))
                       if self.n_tokens else np.zeros(0, dtype=dt))
        self.index = (np.array(np.memmap(self.path, dtype=INDEX_DTYPE, mode="r", offset=tok_end, shape=(self.n_seqs,)))
                      if self.n_seqs else np.zeros(0, dtype=INDEX_DTYPE))
        ix = self.index
        bad = (ix["off"] > self.n_tokens) | (ix["len"] > self.n_tokens - np.minimum(ix["off"], self.n_tokens)) \
            | (ix["label"] < -1) | (ix["label"] >= self.n_labels)
        if bad.any():
            k = int(np.argmax(bad))
            raise FormatError("%s: index entry %d out of range at byte offset %d"
                              % (self.path, k, tok_end + INDEX_DTYPE.itemsize * k))
        if self.n_tokens:
            over = self.tokens >= self.vocab_size
            if over.any():
                k = int(np.argmax(over))
                raise FormatError("%s: token %d outside the vocabulary of size %d at byte offset %d"
                                  % (self.path, int(self.tokens[k]), self.vocab_size, HEADER_BYTES + self.id_bytes * k))
        self.seq_len = seq_len
        if hide_label and unlabelled_id is None:
            raise ValueError("hide_label needs unlabelled_id (the <unlabelled> id of vocab.json's \"special\"; Corpus.split "
                             "passes it)")
        self.unlabelled_id = unlabelled_id if hide_label else None
        # the sequences this dataset hands out (labelled_only: those with a label)
        self.rows = np.flatnonzero(ix["label"] >= 0) if labelled_only else np.arange(self.n_seqs)

    @property
    def labels(self):
        """The label of every sequence handed out (int64; -1 unlabelled)."""
        return self.index["label"][self.rows].astype(np.int64)

    def __len__(self):
        return len(self.rows)

    def sequence(self, i):
        """The tokens of sequence i of the file (no cut, no padding, label token kept), int64."""
        e = self.index[i]
        return np.asarray(self.tokens[int(e["off"]):int(e["off"]) + int(e["len"])], dtype=np.int64)

    def __getitem__(self, i):
        if not -len(self.rows) <= i < len(self.rows):
            raise IndexError(i)
        j = int(self.rows[i])
        t = self.sequence(j)
        if self.unlabelled_id is not None and len(t) > 1:
            t[1] = self.unlabelled_id
        if self.seq_len is not None:
            row = np.full(self.seq_len, self.pad_id, dtype=np.int64)
            n = min(len(t), self.seq_len)
            row[:n] = t[:n]
            t = row
        return t, int(self.index["label"][j])


def _read_json(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        return json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as e:
        raise FormatError("%s: not valid JSON (%s) at byte offset %d" % (path, e.msg, len(e.doc[:e.pos].encode("utf-8"))))
    except UnicodeDecodeError as e:
        raise FormatError("%s: not UTF-8 at byte offset %d" % (path, e.start))


def read_vocab(path):
    """vocab.json as a dict; needs "vocab_size", "label_base" and a "labels" array (as pktlm's
    corpus_labels does); "special" names pad, bos, eos, unlabelled ... (docs/corpus.md)."""
    v = _read_json(path)
    if (not isinstance(v, dict) or not isinstance(v.get("vocab_size"), int) or not isinstance(v.get("label_base"), int)
            or not isinstance(v.get("labels"), list)):
        raise FormatError("%s: not a pktlm vocabulary (needs \"vocab_size\", \"label_base\" and a \"labels\" array)" % path)
    return v


def read_manifest(path):
    """manifest.json as a dict (command, seed, config, inputs, counts, splits: docs/corpus.md)."""
    m = _read_json(path)
    if not isinstance(m, dict) or m.get("format") != "pktlm-corpus":
        raise FormatError("%s: not a pktlm manifest.json (\"format\": \"pktlm-corpus\" missing)" % path)
    return m


class Corpus:
    """A corpus directory made by `pktlm prep`: vocab.json (the one source of label names),
    manifest.json (absent in very old corpora: None) and the splits."""

    def __init__(self, path):
        self.path = str(path)
        self.vocab = read_vocab(os.path.join(self.path, "vocab.json"))
        mp = os.path.join(self.path, "manifest.json")
        self.manifest = read_manifest(mp) if os.path.exists(mp) else None

    @property
    def label_names(self):
        return list(self.vocab["labels"])

    def split(self, name="train", seq_len=None, hide_label=False, labelled_only=False):
        """The shard NAME.tok as a dataset (see Shard), checked against vocab.json as pktlm's
        verbs check it (vocabulary size, label base, number of labels)."""
        p = os.path.join(self.path, name + ".tok")
        s = Shard(p, seq_len=seq_len, hide_label=hide_label, unlabelled_id=self.vocab.get("special", {}).get("unlabelled"),
                  labelled_only=labelled_only)
        v = self.vocab
        if (s.vocab_size, s.label_base, s.n_labels) != (v["vocab_size"], v["label_base"], len(v["labels"])):
            raise FormatError("%s: vocab.json does not belong with the corpus's token shards (vocabulary %d, label base %d, "
                              "%d labels; %s: %d, %d, %d)" % (os.path.join(self.path, "vocab.json"), v["vocab_size"],
                                                              v["label_base"], len(v["labels"]), p, s.vocab_size,
                                                              s.label_base, s.n_labels))
        return s

    def input_path(self, file_index):
        """The capture a sequence came from (Shard.index["file"]), from the manifest."""
        return self.manifest["inputs"][int(file_index)]["path"]


CLASSIFY_KEYS = ("file", "flow", "proto", "a", "a_port", "b", "b_port", "packets", "label", "prob", "top3")


def read_classify_json(source):
    """The rows of `pktlm classify --json` (one JSON object a line) from a path, a file object
    or a string: a list of dicts with file, flow, proto, a, a_port, b, b_port, packets, label,
    prob and top3 ([[name, prob], ...])."""
    if hasattr(source, "read"):
        text, name = source.read(), getattr(source, "name", "<input>")
    elif isinstance(source, str) and "\n" not in source and os.path.exists(source):
        with open(source, encoding="utf-8") as f:
            text, name = f.read(), source
    else:
        text, name = source, "<input>"
    rows, off = [], 0
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        if line.strip():
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise FormatError("%s: line %d: not valid JSON (%s) at byte offset %d"
                                  % (name, n, e.msg, off + len(line[:e.pos].encode("utf-8"))))
            missing = [k for k in CLASSIFY_KEYS if k not in r]
            if missing:
                raise FormatError("%s: line %d: not a `pktlm classify --json` row (no %s) at byte offset %d"
                                  % (name, n, ", ".join(missing), off))
            rows.append(r)
        off += len(line.encode("utf-8"))
    return rows
