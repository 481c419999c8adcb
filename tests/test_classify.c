/* Classification scoring: the evaluation arithmetic against hand-computed confusion matrices
 * (eval/metrics.h cls_report and the early-stopping macro-F1 of train/finetune.h), and corpus
 * sequences decoded into per-flow records for the baselines (eval/seqflows.h). The end-to-end
 * toy task (must reach 100%) is tests/cli_classify.sh. */
#include "test.h"
#include "train/finetune.h"
#include "eval/metrics.h"
#include "eval/seqflows.h"
#include "corpus/tokens.h"
#include "pktbuild.h"
#include "corpus/manifest.h"
#include <string.h>
#include <sys/stat.h>

static void test_hand_cm(void) {
    /* rows true, columns predicted; class 2 neither occurs nor is predicted: not in the macro mean */
    const long cm[9] = { 5, 1, 0,
                         2, 3, 0,
                         0, 0, 0 };
    cls_report r;
    cls_report_compute(&r, cm, 3);
    CHECK_NEAR(r.accuracy, 8.0 / 11, 1e-9);
    CHECK_NEAR(r.precision[0], 5.0 / 7, 1e-9);
    CHECK_NEAR(r.recall[0], 5.0 / 6, 1e-9);
    CHECK_NEAR(r.f1[0], 10.0 / 13, 1e-9);          /* 2*5 / (6 + 7) */
    CHECK_NEAR(r.f1[1], 6.0 / 9, 1e-9);            /* 2*3 / (5 + 4) */
    CHECK_NEAR(r.macro_f1, (10.0 / 13 + 6.0 / 9) / 2, 1e-9);
    CHECK_NEAR(r.weighted_f1, (6 * 10.0 / 13 + 5 * 6.0 / 9) / 11, 1e-9);
    CHECK_EQ(r.support[0], 6); CHECK_EQ(r.support[1], 5); CHECK_EQ(r.support[2], 0);
    double acc;
    CHECK_NEAR(cm_macro_f1(cm, 3, &acc), (10.0 / 13 + 6.0 / 9) / 2, 1e-9);
    CHECK_NEAR(acc, 8.0 / 11, 1e-9);
    cls_report_free(&r);
    /* a class predicted but never true counts with F1 0 */
    const long cm2[4] = { 3, 1,
                          0, 0 };
    CHECK_NEAR(cm_macro_f1(cm2, 2, &acc), (6.0 / 7 + 0) / 2, 1e-9);
    CHECK_NEAR(acc, 0.75, 1e-9);
    cls_report_compute(&r, cm2, 2);
    CHECK_NEAR(r.macro_f1, 3.0 / 7, 1e-9);
    cls_report_free(&r);
}

/* a sequence of two packets (TCP SYN c->s, SYN-ACK s->c 1 ms later) decodes into a flow
 * record with the ports, sizes, flags and gap */
static void test_seqflows(void) {
    uint8_t ip[128];
    tok_seq s;
    tok_seq_init(&s);
    tok_seq_begin(&s, 1, 0);
    uint32_t n = build_ip4(ip, 6, 0x0a000001, 0x0a000002, 40000, 443, TCP_SYN, 1, 0, 0);
    tok_seq_packet(&s, ip, n, 0, 0);
    n = build_ip4(ip, 6, 0x0a000002, 0x0a000001, 443, 40000, TCP_SYN | TCP_ACK, 5, 2, 10);
    tok_seq_packet(&s, ip, 44, 1000000, 1);   /* cut to 44 bytes: the IP length still says 50 */
    tok_seq_end(&s);
    shard_builder b;
    shard_builder_init(&b, tok_vocab_size(2), TOK_PAD, TOK_BOS, TOK_EOS, 2, TOK_LABEL0, 0);
    shard_builder_add(&b, s.t, (uint32_t)s.n, 1, 0, 7, 1);
    shard_builder_add(&b, s.t, (uint32_t)s.n, -1, 0, 8, 2);
    ff_set fs;
    ff_set_init(&fs, 0, 0);
    char *names[2] = { "x", "y" };
    CHECK_EQ(ff_from_shard(&fs, &b.s, 0, names, 2), 2);
    const ff_flow *f = &fs.fl[0];
    CHECK_EQ(f->label, 1); CHECK_EQ(fs.fl[1].label, -1);
    CHECK_EQ(f->key.proto, 6); CHECK_EQ(f->key.port[0], 40000); CHECK_EQ(f->key.port[1], 443);
    CHECK_EQ(f->npk, 2);
    const ff_pkt *p = ff_pkts(&fs, f);
    CHECK_EQ(p[0].ip_len, 40); CHECK_EQ(p[1].ip_len, 50); CHECK_EQ(p[1].pay_len, 10);
    CHECK_EQ(p[1].dir, 1); CHECK_EQ(p[1].flags, TCP_SYN | TCP_ACK);
    CHECK(llabs(p[1].t_ns - 1000000) <= 130000);   /* within the time bucket */
    ff_set fs1;
    ff_set_init(&fs1, 0, 0);
    ff_from_shard(&fs1, &b.s, 1, names, 2);
    CHECK_EQ(fs1.fl[0].npk, 1);
    ff_set_free(&fs); ff_set_free(&fs1);
    shard_builder_free(&b);
    tok_seq_free(&s);
}

/* prep options read back from manifest.json (corpus/manifest.h): a manifest as prep writes it
 * (write_manifest; here made by hand), one with a value missing, one absent */
static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}
static void test_manifest(void) {
    char dir[600], path[700], err[512];
    snprintf(dir, sizeof dir, "%s/mf", t_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    const char *head = "{\n  \"format\": \"pktlm-corpus\",\n  \"version\": 1,\n  \"command\": \"pktlm prep --seed 7 \\\"x\\\"\",\n  \"seed\": 7,\n";
    char text[2048];
    snprintf(text, sizeof text, "%s  \"config\": {\"unit\": \"flow\", \"split\": \"capture\", \"ratio\": [8, 1, 1], \"max_packets\": 8, "
             "\"min_flow_packets\": 2, \"max_flow_packets\": 0, \"payload_bytes\": 32, \"max_bytes\": 192, \"window\": 2048, "
             "\"drop_dhcp\": false, \"dedup\": true, \"min_label_flows\": 0,\n    \"drop_ports\": [53, 443], \"drop_protos\": [],\n"
             "    \"anonymise\": true, \"addresses\": \"random\", \"ids\": true, \"mask_ports\": false, \"checksums\": \"zero\", "
             "\"secret\": true,\n    \"address_scope\": \"flow\",\n    \"tcp_timeout\": 120.5, \"udp_timeout\": 60},\n  \"inputs\": [\n  ]\n}\n", head);
    write_text(path, text);
    prep_cfg c;
    int secret = 0;
    CHECKF(prep_cfg_from_manifest(dir, &c, &secret, err, sizeof err) == 0, "%s", err);
    CHECK_EQ(c.payload, 32); CHECK_EQ(c.max_bytes, 192); CHECK_EQ(c.min_flow_pkts, 2); CHECK_EQ(c.drop_dhcp, 0);
    CHECK_EQ(c.ndrop_ports, 2); CHECK_EQ(c.drop_ports[1], 443); CHECK_EQ(c.ndrop_protos, 0);
    CHECK_EQ(c.anon.addr, ANON_ADDR_RANDOM); CHECK_EQ(c.anon.csum, ANON_CSUM_ZERO); CHECK_EQ(secret, 1);
    CHECK(c.flows.tcp_timeout == 120.5 && c.seed == 7);
    char d[256];
    prep_cfg_describe(&c, d, sizeof d);
    CHECKF(!strcmp(d, "--payload 32 --keep-dhcp --drop-port 53,443 --min-packets 2 --tcp-timeout 120.5 --addr random --checksums zero --seed 7"), "%s", d);
    /* a value missing: the error names the file and the key */
    char *p = strstr(text, "\"payload_bytes\"");
    memcpy(p, "\"payload_bytez\"", 15);
    write_text(path, text);
    CHECK(prep_cfg_from_manifest(dir, &c, &secret, err, sizeof err) == -1);
    CHECKF(strstr(err, "manifest.json") && strstr(err, "payload_bytes"), "%s", err);
    memcpy(p, "\"payload_bytes\": -3", 19);
    write_text(path, text);
    CHECK(prep_cfg_from_manifest(dir, &c, &secret, err, sizeof err) == -1);
    CHECKF(strstr(err, "byte "), "%s", err);
    /* no manifest: 1, defaults */
    remove(path);
    CHECK(prep_cfg_from_manifest(dir, &c, &secret, err, sizeof err) == 1);
    CHECK_EQ(c.payload, 64);
}

int main(void) {
    RUN(test_hand_cm);
    RUN(test_manifest);
    RUN(test_seqflows);
    return t_done();
}
