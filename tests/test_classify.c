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

int main(void) {
    RUN(test_hand_cm);
    RUN(test_seqflows);
    return t_done();
}
