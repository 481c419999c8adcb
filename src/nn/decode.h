/* Decoding kernels (decode.c): the pieces every backbone's generation step is made of, so a
 * backbone's step is its layer recipe and nothing else.
 *
 *  - nn_panels: a weight matrix (OUT, IN) packed once, at run-state creation, into panels of
 *    32 output columns, k-major, by gemm.c's own packing (nn_pack_b / nn_pack_b_bf16). A
 *    step's linear layer is then a small product (rows = sequences) whose register tile is 32
 *    columns x up to 6 rows: each weight is loaded once per 6 rows. bf16 panels hold the
 *    pair (k even, k odd) of a column in one 32-bit word: half the memory traffic.
 *    A row's sums never depend on the other rows (same sequence, same logits, any batch).
 *  - nn_arena: sizes and carves a run state in one walk (count with base NULL, then carve).
 *  - the key/value cache of one (slot, layer, kv head), and one query's attention over it
 *    at its own position (grouped-query heads: the caller maps query head -> kv head). */
#ifndef PKTLM_DECODE_H
#define PKTLM_DECODE_H
#include <stddef.h>
#include <stdint.h>

#define NN_PANEL 32   /* output columns per panel */

/* ---- packed weights ---- */
typedef struct {
    void *p;          /* panels (fp32, or uint32 bf16 pairs) */
    int out, in, bf16;
} nn_panels;
size_t nn_panels_count(int out);                 /* ceil(out / 32) */
size_t nn_panels_bytes(int out, int in, int bf16);
/* Pack W (out rows of `in` floats, row stride ldw: a column block of a wider matrix is fine)
 * into dst (nn_panels_bytes(out, in, bf16) bytes, 64-byte aligned); P describes it. */
void nn_panels_pack(nn_panels *P, void *dst, const float *W, size_t ldw, int out, int in, int bf16);
enum { NN_PM_STORE, NN_PM_ADD, NN_PM_GELU };
/* out (n rows, stride ldo) (=, +=, = gelu of) in (n rows of P->in, stride ldi) W^T + bias,
 * for the output columns of panels [p0, p1) (a worker's share; p1 <= nn_panels_count(out)).
 * bias may be NULL. Row arithmetic is independent of n and of the split. */
void nn_panels_matmul(float *out, size_t ldo, const float *in, size_t ldi, const nn_panels *P, const float *bias, int n,
                      size_t p0, size_t p1, int mode);
/* SwiGLU in place: g[i] = silu(g[i]) * u[i] = g / (1 + e^-g) * u (vectorised e^x, ~2e-7) */
void nn_swiglu(float *g, const float *u, int n);
/* 1 when bf16 panels are supported by this build (AVX-512) */
int nn_panels_bf16_ok(void);

/* [lo, hi) of n items for worker w of nw (declares lo and hi as size_t) */
#define NN_SPLIT(n, w, nw, lo, hi) size_t lo = (size_t)(n) * (w) / (nw), hi = (size_t)(n) * ((w) + 1) / (nw)
/* Worker w of nw's hidden units [*u0, *u1) of an MLP of F units (the panels of F split by
 * NN_SPLIT, the last cut at F): the decoding steps' share of the MLP; *u1 == *u0: none. */
void nn_split_units(int F, int w, int nw, int *u0, int *u1);

/* ---- one walk that sizes and carves ---- */
typedef struct { char *base; size_t used; } nn_arena;
/* bytes (rounded up to 64) from the arena; base NULL: only counts (returns NULL) */
void *nn_arena_take(nn_arena *a, size_t bytes);
#define NN_TAKE(a, type, n) ((type *)nn_arena_take((a), sizeof(type) * (size_t)(n)))

/* ---- key/value cache and the attention step ----
 * One (slot, layer, kv head) region: keys then values, each nn_kv_tp(ctx) x hs elements
 * (fp32, or bf16 with --bf16). Keys are stored in blocks of 16 positions (pos / 16, i,
 * pos % 16) so a query's scores read one contiguous stretch per block; values by position. */
int nn_kv_tp(int ctx);                                   /* ctx rounded up to 16 */
size_t nn_kv_bytes(int hs, int ctx, int bf16);           /* one region: keys and values */
/* store k and v (hs floats each) at position pos of the region kv */
void nn_kv_store(void *kv, int hs, int ctx, int bf16, int pos, const float *k, const float *v);
/* out (hs) = softmax(q . K[0..P] * scale) . V[0..P] over the region kv (positions 0..P
 * stored); scores: nn_kv_tp(ctx) floats of scratch. */
void nn_attend(float *out, const float *q, const void *kv, int hs, int ctx, int bf16, int P, float scale, float *scores);

/* GELU (tanh form) of one value, as the portable panel product applies it */
float nn_gelu1(float x);
#endif
