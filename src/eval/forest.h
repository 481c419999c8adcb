/* Random forest classifier (CART trees, Gini impurity, bootstrap samples, a random subset
 * of features per split), deterministic for a given seed whatever the thread count.
 * Splits are searched on quantile bins of each feature (up to 255 bins, as LightGBM /
 * sklearn's HistGradientBoosting do), which makes training O(n * mtry * depth) per tree;
 * thresholds are stored as feature values, so prediction takes raw features. */
#ifndef PKTLM_FOREST_H
#define PKTLM_FOREST_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_trees;          /* default 100 */
    int max_depth;        /* default 24 */
    int min_leaf;         /* samples per leaf, default 1 */
    int mtry;             /* features tried per split; 0 = round(sqrt(d)) */
    int n_bins;           /* 2..256, default 64 */
    int balanced;         /* weight classes by n / (C * n_c) */
    const float *class_weight;  /* explicit per-class weights (overrides balanced), or NULL */
    uint64_t seed;
} rf_cfg;

typedef struct {
    int32_t feat;         /* -1 for a leaf */
    float thr;            /* go left when x[feat] <= thr */
    int32_t left, right;  /* node indices; for a leaf, left = offset of its C probabilities */
} rf_node;

typedef struct {
    int n_classes, n_feat, n_trees;
    rf_node *nodes; size_t n_nodes;
    int32_t *root;        /* first node of each tree */
    float *probs; size_t n_probs;
} rf_model;

void rf_cfg_default(rf_cfg *c);
/* X: n rows of d features (row-major), y: class ids in [0, n_classes). 0 ok, -1 error. */
int rf_train(rf_model *m, const rf_cfg *c, const float *X, const int *y, size_t n, int d, int n_classes);
/* Class probabilities (average of the trees' leaf distributions) into proba[n_classes];
 * returns the most probable class (lowest id on ties). */
int rf_predict_proba(const rf_model *m, const float *x, float *proba);
int rf_predict(const rf_model *m, const float *x);
void rf_free(rf_model *m);
#endif
