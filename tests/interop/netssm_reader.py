#!/usr/bin/env python3
"""Reads `pktlm export --format netssm` output as NetSSM's own code does, with plain python3.

What is done here, and where NetSSM does it (noise-lab/netssm):
  * train.py / preprocessing/create_tok_dataset.py: AutoTokenizer.from_pretrained(tokenizer dir)
    -> PreTrainedTokenizerFast over tokenizer.json (a WordLevel model, Whitespace pre-tokenizer,
    added special tokens matched in the raw text first); load_dataset("json", data_files=X.jsonl)
    (one JSON object a line, the same keys and types on every line); tokenizer(batch["Data"],
    padding="longest") -> input_ids; vocab_size = len(tokenizer).
  * preprocessing/main.go: what a line holds: {"Data", "Hash" = sha256 of the file name,
    "Filename", "OrigLen" = packets}; Data = "<|label|> " + packets of 128 decimal bytes joined
    by " <|pkt|> ".
  * generation/conversion.py: each packet parsed as an Ethernet frame (scapy Ether()).
Fails (exit 1, naming file and line) on anything those steps would reject or get wrong: an
unknown word (<|unk|>), a packet that is not 128 bytes, a frame that is not Ethernet + IP +
TCP/UDP, an OrigLen or Hash that does not match.

usage: netssm_reader.py OUT_DIR [--frames-of PCAP...]   (--frames-of: see check_frames)
"""
import hashlib, json, os, re, struct, sys

WS = re.compile(r"\w+|[^\w\s]+")     # tokenizers' Whitespace pre-tokenizer


def die(msg):
    print("netssm_reader: " + msg, file=sys.stderr)
    sys.exit(1)


class Tokenizer:
    """The part of PreTrainedTokenizerFast(tokenizer.json) that NetSSM's data goes through."""

    def __init__(self, d):
        tj = json.load(open(os.path.join(d, "tokenizer.json")))
        cfg = json.load(open(os.path.join(d, "tokenizer_config.json")))
        smap = json.load(open(os.path.join(d, "special_tokens_map.json")))
        if cfg.get("tokenizer_class") != "PreTrainedTokenizerFast":
            die("tokenizer_config.json: tokenizer_class is not PreTrainedTokenizerFast")
        m = tj["model"]
        if m["type"] != "WordLevel" or tj["pre_tokenizer"] != {"type": "Whitespace"}:
            die("tokenizer.json: not a WordLevel model with a Whitespace pre-tokenizer")
        self.vocab = dict(m["vocab"])
        for i in range(256):
            if self.vocab.get(str(i)) != i:
                die("tokenizer.json: byte %d is not token %d" % (i, i))
        self.unk = self.vocab[m["unk_token"]]
        self.added = {}
        for t in tj["added_tokens"]:
            if t["content"] in self.added or (t["content"] in self.vocab and self.vocab[t["content"]] != t["id"]):
                die("tokenizer.json: added token %r twice or with two ids" % t["content"])
            if t["normalized"] or not t["special"]:
                die("tokenizer.json: added token %r is normalized or not special" % t["content"])
            self.added[t["content"]] = t["id"]
        dec = {int(k): v["content"] for k, v in cfg.get("added_tokens_decoder", {}).items()}
        if dec != {v: k for k, v in self.added.items()}:
            die("tokenizer_config.json: added_tokens_decoder differs from tokenizer.json's added_tokens")
        ids = sorted(set(self.vocab.values()) | set(self.added.values()))
        if ids != list(range(len(ids))):
            die("tokenizer: ids are not 0..N-1")
        self.size = len(ids)                 # len(tokenizer): train.py's vocab_size
        for k in ("eos_token", "pad_token", "unk_token"):
            tok = cfg.get(k, smap.get(k))
            if tok not in self.added and tok not in self.vocab:
                die("tokenizer: %s %r is not a token" % (k, tok))
        self.pad = self.added.get(cfg.get("pad_token")) or self.vocab.get(cfg.get("pad_token"))
        self.pkt = self.added.get("<|pkt|>")
        if self.pkt is None:
            die("tokenizer: no <|pkt|> token")
        # added tokens are found in the raw text first (longest first at each position)
        self.split_re = re.compile("|".join(re.escape(t) for t in sorted(self.added, key=len, reverse=True)))

    def encode(self, text):
        ids, pos = [], 0
        for m in self.split_re.finditer(text):
            ids += [self.vocab.get(w, self.unk) for w in WS.findall(text[pos:m.start()])]
            ids.append(self.added[m.group(0)])
            pos = m.end()
        ids += [self.vocab.get(w, self.unk) for w in WS.findall(text[pos:])]
        return ids


def ether_parse(b, where):
    """What scapy's Ether() makes of a packet, checked: Ethernet, IPv4/IPv6, TCP/UDP."""
    et = struct.unpack(">H", b[12:14])[0]
    ip = b[14:]
    if et == 0x0800:
        if ip[0] >> 4 != 4 or (ip[0] & 15) < 5:
            die("%s: EtherType IPv4 but the IP header starts %02x" % (where, ip[0]))
        proto, l4 = ip[9], (ip[0] & 15) * 4
    elif et == 0x86DD:
        if ip[0] >> 4 != 6:
            die("%s: EtherType IPv6 but the IP header starts %02x" % (where, ip[0]))
        proto, l4 = ip[6], 40
        while proto in (0, 43, 60) and l4 + 8 <= len(ip):    # hop-by-hop, routing, destination options
            proto, l4 = ip[l4], l4 + (ip[l4 + 1] + 1) * 8
    else:
        die("%s: EtherType %04x is not IPv4 or IPv6" % (where, et))
    if proto == 6:
        if l4 + 20 > len(ip) or ip[l4 + 12] >> 4 < 5:
            die("%s: TCP header cut or with data offset < 5" % where)
    elif proto == 17:
        if l4 + 8 > len(ip):
            die("%s: UDP header cut" % where)
    else:
        die("%s: IP protocol %d is not TCP or UDP" % (where, proto))
    return proto


def read_jsonl(path, tok):
    lines = packets = 0
    longest = 0
    label_ids = set(tok.added.values()) - {tok.pkt, tok.pad, tok.unk} - {tok.added.get("<|endoftext|>")}
    keys = None
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        where = "%s line %d" % (path, n)
        o = json.loads(line)
        if list(o) != ["Data", "Hash", "Filename", "OrigLen"]:
            die("%s: keys %s, NetSSM's are Data, Hash, Filename, OrigLen" % (where, list(o)))
        types = tuple(type(o[k]).__name__ for k in o)
        if types != ("str", "str", "str", "int"):
            die("%s: value types %s" % (where, types))
        keys = keys or types
        if hashlib.sha256(o["Filename"].encode()).hexdigest() != o["Hash"]:
            die("%s: Hash is not the sha256 of Filename" % where)
        ids = tok.encode(o["Data"])
        if tok.unk in ids:
            die("%s: %d words the tokenizer does not know (<|unk|>), first near %r" %
                (where, ids.count(tok.unk), o["Data"][:80]))
        if ids[0] not in label_ids:
            die("%s: does not start with a label token" % where)
        pk, cur = [], []
        for t in ids[1:] + [tok.pkt]:
            if t == tok.pkt:
                pk.append(cur); cur = []
            elif t < 256:
                cur.append(t)
            else:
                die("%s: special token %d inside the packets" % (where, t))
        if len(pk) != o["OrigLen"] or len(pk) < 2:
            die("%s: %d packets, OrigLen %d (NetSSM writes captures of 2 or more)" % (where, len(pk), o["OrigLen"]))
        for i, p in enumerate(pk):
            if len(p) != 128:
                die("%s packet %d: %d bytes, NetSSM's are 128" % (where, i, len(p)))
            ether_parse(bytes(p), "%s packet %d" % (where, i))
        lines += 1
        packets += len(pk)
        longest = max(longest, len(ids))
    if not lines:
        die("%s: no line (load_dataset would fail on an empty file)" % path)
    return lines, packets, longest


def pcap_frames(path):
    """Ethernet frames of a classic pcap file (both byte orders, us or ns)."""
    d = open(path, "rb").read()
    magic = d[:4]
    e = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    if struct.unpack(e + "I", d[20:24])[0] != 1:
        die("%s: not Ethernet" % path)
    off, out = 24, []
    while off + 16 <= len(d):
        incl = struct.unpack(e + "I", d[off + 8:off + 12])[0]
        out.append(d[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


def netssm_bytes(frame):
    """The 128 bytes NetSSM's Go preprocessor keeps of an Ethernet frame (TCP: all headers;
    UDP: headers + 12 payload bytes, all of a shorter payload), or None when it skips it
    (not TCP/UDP, fragments). IPv4 with options, IPv6 without extension headers."""
    et = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if et == 0x0800:
        hl, proto, tot = (ip[0] & 15) * 4, ip[9], struct.unpack(">H", ip[2:4])[0]
        if ip[6] & 0x3F or ip[7]:
            return None
    elif et == 0x86DD:
        hl, proto, tot = 40, ip[6], 40 + struct.unpack(">H", ip[4:6])[0]
    else:
        return None
    if proto == 6:
        end = hl + (ip[hl + 12] >> 4) * 4
    elif proto == 17:
        end = hl + 8 + min(12, tot - hl - 8)
    else:
        return None
    b = frame[:14 + end][:128]
    return b + bytes(128 - len(b))


def check_frames(out_dir, pcaps):
    """A corpus made with `prep --no-anon --keep-dhcp --unit capture`: every exported packet equals,
    from byte 14 on (the Ethernet header is synthetic), what NetSSM's preprocessor writes of
    the capture's frames, in order."""
    want = {}
    for p in pcaps:
        want[os.path.abspath(p)] = [b for b in map(netssm_bytes, pcap_frames(p)) if b is not None]
    seen = 0
    for f in sorted(os.listdir(out_dir)):
        if not f.endswith(".jsonl"):
            continue
        for n, line in enumerate(open(os.path.join(out_dir, f)), 1):
            o = json.loads(line)
            w = want.get(os.path.abspath(o["Filename"]))
            if w is None:
                continue
            body = o["Data"].split(" ", 1)[1]                  # after the label token
            pk = [bytes(int(x) for x in s.split()) for s in body.split("<|pkt|>")]
            if len(pk) != len(w):
                die("%s line %d: %d packets, NetSSM's preprocessor keeps %d of %s" % (f, n, len(pk), len(w), o["Filename"]))
            for i, (a, b) in enumerate(zip(pk, w)):
                if a[14:] != b[14:]:
                    die("%s line %d packet %d: differs from NetSSM's bytes of the frame:\n  %s\n  %s" % (f, n, i, a.hex(), b.hex()))
            seen += 1
    if seen != len(pcaps):
        die("%d of %d captures found in the export" % (seen, len(pcaps)))
    return seen


def main():
    a = sys.argv[1:]
    if not a:
        die("usage: netssm_reader.py OUT_DIR [--frames-of PCAP...]")
    out = a[0]
    tok = Tokenizer(os.path.join(out, "tokenizer"))
    man = json.load(open(os.path.join(out, "manifest.json")))
    toks = [l["token"] for l in man["labels"]]
    if any(t not in tok.added for t in toks) or len(set(toks)) != len(toks):
        die("manifest.json: label tokens not all in the tokenizer, or not unique")
    files = sorted(f for f in os.listdir(out) if f.endswith(".jsonl"))
    if not files:
        die("%s: no .jsonl file" % out)
    tl = tp = 0
    for f in files:
        lines, packets, longest = read_jsonl(os.path.join(out, f), tok)
        tl += lines; tp += packets
        print("%s: %d lines, %d packets, longest %d tokens" % (f, lines, packets, longest))
    msg = "netssm_reader: %s ok: %d files, %d lines, %d packets, vocab_size %d" % (out, len(files), tl, tp, tok.size)
    if len(a) > 2 and a[1] == "--frames-of":
        msg += ", %d captures byte-equal to NetSSM's preprocessor" % check_frames(out, a[2:])
    print(msg)


if __name__ == "__main__":
    main()
