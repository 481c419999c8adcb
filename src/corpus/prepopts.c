/* prep's options: see prepopts.h. The order is --help's. */
#include "corpus/prepopts.h"
#include <limits.h>
#include <stddef.h>

#define M(f) offsetof(prep_cfg, f)
const prep_opt prep_opts[] = {
    { .flag = "--tokens", .arg = "T", .help = "pktlm's byte tokens | tcpflowgen's TCP header-field\n"
      "tokens (TCP flows only, whole flows unless --packets) | NetGPT's hex bigrams | NetGPT's hex\n"
      "text through a model's own byte-level BPE (--tokenizer)",
      .type = PO_CHOICE, .off = M(tokens), .words = "bytes|fields|bigrams|bpe", .tokens = 1, .section = "Tokens (docs/tokens.md)" },
    { .flag = "--tokenizer", .arg = "FILE", .help = "bpe: the model's tokenizer.json (GPT-2, Qwen2/Qwen2.5)",
      .type = PO_STR, .off = M(tokenizer) },
    { .flag = "--complete-only", .help = "fields: only flows with handshake and termination",
      .type = PO_FLAG, .off = M(complete_only), .value = 1, .tokens = 1 },
    { .flag = "--unit", .arg = "U", .help = "a flow's first K packets | one packet |\na whole capture cut into windows",
      .type = PO_CHOICE, .off = M(unit), .words = "flow|packet|capture", .tokens = 1, .section = "Sequences" },
    { .flag = "--packets", .arg = "K", .help = "packets kept per flow",
      .type = PO_INT, .off = M(max_pkts), .lo = 1, .hi = 1000000, .tokens = 1 },
    { .flag = "--payload", .arg = "N", .help = "payload bytes kept after the transport header",
      .type = PO_INT, .off = M(payload), .hi = 65535, .tokens = 1 },
    { .flag = "--max-bytes", .arg = "B", .help = "at most B bytes of a packet, from the IP header",
      .type = PO_INT, .off = M(max_bytes), .lo = 20, .hi = 65535, .tokens = 1 },
    { .flag = "--window", .arg = "N", .help = "tokens per window with --unit capture",
      .type = PO_INT, .off = M(window), .lo = 64, .hi = 1 << 24 },
    { .flag = "--split", .arg = "S", .help = "flow: stratified by label; capture (the one for --unit capture); time",
      .type = PO_CHOICE, .off = M(split), .words = "flow|capture|time", .section = "Splits" },
    { .flag = "--ratio", .arg = "A:B:C", .help = "train:val:test (default 8:1:1)", .type = PO_RATIO, .off = M(ratio) },
    { .flag = "--seed", .arg = "N", .help = "same inputs + seed = byte-identical corpus",
      .type = PO_U64, .off = M(seed), .tokens = 2 },
    { .flag = "--no-dedup", .help = "keep sequences duplicated across splits", .type = PO_FLAG, .off = M(dedup) },
    { .flag = "--keep-dhcp", .help = "keep DHCP/DHCPv6 flows (dropped by default)",
      .type = PO_FLAG, .off = M(drop_dhcp), .tokens = 1, .section = "Filters (non-IP frames such as ARP are always dropped)" },
    { .flag = "--drop-port", .arg = "P[,P...]", .help = "drop TCP/UDP flows with this port on either side (repeatable)",
      .type = PO_PORTS, .off = M(drop_ports), .count_off = M(ndrop_ports), .hi = 65535, .tokens = 1 },
    { .flag = "--drop-proto", .arg = "N[,N...]", .help = "drop flows of this IP protocol number (repeatable)",
      .type = PO_PROTOS, .off = M(drop_protos), .count_off = M(ndrop_protos), .hi = 255, .tokens = 1 },
    { .flag = "--min-packets", .arg = "N", .help = "drop flows with fewer packets",
      .type = PO_INT, .off = M(min_flow_pkts), .hi = INT_MAX, .tokens = 1 },
    { .flag = "--max-flow-packets", .arg = "N", .help = "drop flows with more packets (default: no limit)",
      .type = PO_INT, .off = M(max_flow_pkts), .hi = INT_MAX, .tokens = 1 },
    { .flag = "--tcp-timeout", .arg = "S", .help = "TCP flow idle timeout in seconds",
      .type = PO_DOUBLE, .off = M(flows.tcp_timeout), .hi = 1e12, .tokens = 1 },
    { .flag = "--udp-timeout", .arg = "S", .help = "UDP and other flows' idle timeout in seconds",
      .type = PO_DOUBLE, .off = M(flows.udp_timeout), .hi = 1e12, .tokens = 1 },
    { .flag = "--min-label-flows", .arg = "N", .help = "labels with fewer than N flows become unlabelled",
      .type = PO_INT, .off = M(min_label_flows), .hi = INT_MAX },
    { .flag = "--no-anon", .help = "keep addresses and identifiers as they are",
      .type = PO_FLAG, .off = M(anonymise), .tokens = 1, .section = "Anonymisation (on by default; docs/corpus.md)" },
    { .flag = "--addr", .arg = "A", .help = "address mapping: prefix-preserving, random, or kept",
      .type = PO_CHOICE, .off = M(anon.addr), .words = "prefix|random|keep", .tokens = 1, .anon = 1 },
    { .flag = "--keep-ids", .help = "keep IP id, flow label, TCP ISN and timestamps",
      .type = PO_FLAG, .off = M(anon.ids), .tokens = 1, .anon = 1 },
    { .flag = "--mask-ports", .help = "zero TCP/UDP ports",
      .type = PO_FLAG, .off = M(anon.mask_ports), .value = 1, .tokens = 1, .anon = 1 },
    { .flag = "--checksums", .arg = "C", .help = "checksums after the rewrite",
      .type = PO_CHOICE, .off = M(anon.csum), .words = "update|zero", .tokens = 1, .anon = 1 },
    { .flag = "--anon-scope", .arg = "S", .help = "one address map per flow, or per capture\n(capture with --unit capture)",
      .type = PO_CHOICE, .off = M(anon.scope), .words = "flow|capture", .tokens = 1, .anon = 1 },
    { .flag = "--anon-secret", .arg = "S", .help = "mixed into the mapping key, not recorded (also\n"
      "$PKTLM_ANON_SECRET); without it the seed reproduces the map",
      .type = PO_STR, .off = M(secret) },
    { .flag = "--no-hash", .help = "skip the sha256 of inputs in the manifest",
      .type = PO_FLAG, .off = M(hash_inputs), .section = "Other" },
};
#undef M
const int prep_nopts = sizeof prep_opts / sizeof prep_opts[0];

int prep_opt_index(size_t off) {
    for (int i = 0; i < prep_nopts; i++) if (prep_opts[i].off == off) return i;
    return -1;
}
