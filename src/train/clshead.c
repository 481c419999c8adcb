/* Training of the classification head (clshead.h): backward, AdamW, the file written by a
 * training run. */
#include "train/clshead.h"
#include <string.h>


void cls_pool_backward(float *dhidden, const float *dpooled, const int *len, int B, int T, int C, int pooling) {
    memset(dhidden, 0, (size_t)B * T * C * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *d = dpooled + (size_t)b * C;
        float *hb = dhidden + (size_t)b * T * C;
        int L = len[b] < 1 ? 1 : (len[b] > T ? T : len[b]);
        if (pooling == POOL_MEAN) {
            float k = 1.0f / (float)L;
            for (int t = 0; t < L; t++) for (int c = 0; c < C; c++) hb[(size_t)t * C + c] = d[c] * k;
        } else {
            memcpy(hb + (size_t)cls_pool_pos(L, pooling) * C, d, (size_t)C * sizeof(float));
        }
    }
}

void cls_head_backward(cls_head *h, const float *pooled, const int *y, const float *cw, int B) {
    const int C = h->C, K = h->K;
    double wsum = 0;
    for (int b = 0; b < B; b++) if (y[b] >= 0 && y[b] < K) wsum += cw ? cw[y[b]] : 1.0;
    for (int b = 0; b < B; b++) {
        float *dx = h->dpooled + (size_t)b * C;
        memset(dx, 0, (size_t)C * sizeof(float));
        if (y[b] < 0 || y[b] >= K || wsum <= 0) continue;
        const float *x = pooled + (size_t)b * C, *p = h->probs + (size_t)b * K;
        float s = (float)((cw ? cw[y[b]] : 1.0) / wsum);
        for (int k = 0; k < K; k++) {
            float dz = s * (p[k] - (k == y[b] ? 1.0f : 0.0f));   /* dL/dlogit */
            float *gwk = h->gw + (size_t)k * C;
            const float *wk = h->w + (size_t)k * C;
            for (int c = 0; c < C; c++) { gwk[c] += dz * x[c]; dx[c] += dz * wk[c]; }
            h->gb[k] += dz;
        }
    }
}

void cls_head_zero_grad(cls_head *h) { memset(h->grads, 0, h->nparams * sizeof(float)); }

void cls_head_adamw(cls_head *h, const adamw_params *p, int t) {
    size_t nw = (size_t)h->K * h->C;
    adamw_update(h->w, h->gw, h->adam_m, h->adam_v, nw, p, t, 1);
    adamw_update(h->b, h->gb, h->adam_m + nw, h->adam_v + nw, (size_t)h->K, p, t, 0);
}


int cls_save(const char *path, const model *m, const train_state *st, const cls_head *h, const cls_info *info,
             char *err, size_t errlen) {
    ckpt_header slots;
    ckpt_train_header(&slots, st);
    model_vocab v = train_vocab(st);
    return cls_write(path, m, &v, &slots, h, info, err, errlen);
}
