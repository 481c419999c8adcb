/* Shallow flow classifiers on ff_set flows: the baselines of `pktlm eval` (issue 5) and the
 * TSTR classifier of `pktlm compare`.
 *   shallow_*  a random forest (forest.h) on ff_features() (flowfeat.h), with or without
 *              ports, optionally only the first k packets;
 *   portmap_*  a port-only lookup: the most frequent training label of each
 *              (protocol, service port), else of the protocol, else overall;
 *   majority   portmap with nothing to look up (portmap_train with use_port = 0).
 * Flows with label < 0 are skipped in training and scoring. */
#ifndef PKTLM_SHALLOW_H
#define PKTLM_SHALLOW_H
#include "eval/flowfeat.h"
#include "eval/forest.h"

typedef struct {
    ff_feat_cfg feat;
    rf_model rf;
    int n_classes;
} shallow_model;

/* Train on the flows idx[0..n) of s (idx NULL: every flow). 0 ok, -1 when nothing labelled. */
int shallow_train(shallow_model *m, const ff_set *s, const size_t *idx, size_t n, const ff_feat_cfg *feat,
                  const rf_cfg *rf, int n_classes);
/* Predicted class; proba (n_classes floats) may be NULL. */
int shallow_predict(const shallow_model *m, const ff_set *s, const ff_flow *f, float *proba);
void shallow_free(shallow_model *m);

typedef struct {
    int n_classes, fallback;   /* overall majority */
    int use_port;
    int proto_best[256];
    uint32_t *keys; int *best; size_t n;   /* sorted (proto << 16 | port) -> label */
} portmap_model;
int portmap_train(portmap_model *m, const ff_set *s, const size_t *idx, size_t n, int use_port, int n_classes);
int portmap_predict(const portmap_model *m, const ff_flow *f);
void portmap_free(portmap_model *m);

/* Confusion matrix (n_classes^2, row = true) of a predictor over flows idx[0..n) of s
 * (idx NULL: every flow); returns the number of flows scored. */
size_t shallow_confusion(const shallow_model *m, const ff_set *s, const size_t *idx, size_t n, long *cm);
size_t portmap_confusion(const portmap_model *m, const ff_set *s, const size_t *idx, size_t n, long *cm);
#endif
