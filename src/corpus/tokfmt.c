/* The token-format table: see tokfmt.h and docs/tokens.md. */
#include "corpus/tokfmt.h"
#include "corpus/tokens.h"
#include "corpus/tcpfields.h"
#include "corpus/bigrams.h"
#include <stdio.h>
#include <string.h>

static const tok_format formats[TOKFMT_COUNT] = {
    { TOKFMT_BYTES, "bytes", TOK_LABEL0, TOK_PAD, TOK_BOS, TOK_EOS, TOK_UNLABELLED, TOK_PKT, -1, 1, 1, 0,
      "pktlm's reversible byte tokens: 256 byte values, direction, time buckets, labels" },
    { TOKFMT_FIELDS, "fields", TCPF_LABEL0, TCPF_PAD, TCPF_COMPLETE, TCPF_EOS, TCPF_UNLABELLED, TCPF_FORWARD, TCPF_REVERSE, 1, 1, 1,
      "tcpflowgen's 16-bit TCP header-field tokens (+ pktlm's time, IPv6 and label tokens)" },
    { TOKFMT_BIGRAMS, "bigrams", BIG_LABEL0, BIG_PAD, BIG_CLS, BIG_SEP, BIG_UNLABELLED, BIG_PKT, -1, 1, 0, 0,
      "NetGPT's overlapping two-byte hex bigrams (+ pktlm's packet-boundary and label tokens)" },
    { TOKFMT_BPE, "bpe", -1, -1, -1, -1, -1, -1, -1, 1, 0, 0,
      "NetGPT's hex text through a model's byte-level BPE tokenizer.json (--tokenizer)" },
};

void tokfmt_bpe(tok_format *f, int n_tok, int eot, int newline) {
    *f = formats[TOKFMT_BPE];
    f->pad = n_tok;
    f->unlabelled = n_tok + 1;
    f->label_base = n_tok + 2;
    f->bos = f->eos = eot;
    f->pkt = newline;
}

const tok_format *tokfmt_get(int id) { return id >= 0 && id < TOKFMT_COUNT ? &formats[id] : NULL; }

const tok_format *tokfmt_by_name(const char *name) {
    for (int i = 0; name && i < TOKFMT_COUNT; i++)
        if (!strcmp(name, formats[i].name)) return &formats[i];
    return NULL;
}

const char *tokfmt_name(const tok_format *f, int t, char *buf) {
    if (t >= f->label_base) { snprintf(buf, 32, "<label:%d>", t - f->label_base); return buf; }
    if (t == f->unlabelled) { snprintf(buf, 32, "<unlabelled>"); return buf; }
    if (f->id == TOKFMT_BYTES) return tok_name(t, buf);
    if (f->id == TOKFMT_FIELDS) {
        static const char *sp[] = { "<complete>", "<start>", "<end>", "<free>", "<forward>", "<reverse>",
                                    "<head>", "<pkt_size>", "<eos>", "<pad>" };
        if (t >= 0 && t < TCPF_NVALUES) snprintf(buf, 32, "%d", t);
        else if (t >= TCPF_COMPLETE && t <= TCPF_PAD) snprintf(buf, 32, "%s", sp[t - TCPF_COMPLETE]);
        else if (t >= TCPF_TIME0 && t < TCPF_TIME0 + TCPF_NTIME) snprintf(buf, 32, "<t:%d>", t - TCPF_TIME0);
        else if (t == TCPF_IP6) snprintf(buf, 32, "<ip6>");
        else snprintf(buf, 32, "<bad:%d>", t);
        return buf;
    }
    if (f->id == TOKFMT_BPE) {   /* the text needs the tokenizer (bpe_decode_id) */
        if (t == f->pad) snprintf(buf, 32, "<pad>");
        else if (t == f->eos) snprintf(buf, 32, "<|endoftext|>");
        else snprintf(buf, 32, "<bpe:%d>", t);
        return buf;
    }
    if (t >= 0 && t < BIG_W0) snprintf(buf, 32, "%s", big_special[t]);
    else if (t >= BIG_W0 && t < BIG_SEED_VOCAB) snprintf(buf, 32, "%04x", t - BIG_W0);
    else if (t == BIG_PKT) snprintf(buf, 32, "<pkt>");
    else snprintf(buf, 32, "<bad:%d>", t);
    return buf;
}
