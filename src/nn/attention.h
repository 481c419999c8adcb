/* Causal multi-head self-attention, forward and backward, fp32 and bf16 products (training,
 * scoring), and one query against a key/value cache (the plain reference of generation's
 * nn_attend, decode.h). Names and conventions: nn.h. On the AVX-512 kernel (gemm.h) the
 * products run on packed panels and skip the causal upper triangle; elsewhere a plain blocked
 * loop computes the same. */
#ifndef PKTLM_ATTENTION_H
#define PKTLM_ATTENTION_H
#include <stddef.h>
#include "nn/nn.h"

/* Causal multi-head self-attention. qkv (B,T,3C) = [q | k | v], head h at columns h*hs.
 * att (B,NH,T,T) receives the softmax probabilities (only the causal lower triangle is
 * written and read); out (B,T,C). Parallel over (b,h); scores by query blocks, so the
 * work above the diagonal is skipped except inside the diagonal block. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
/* dqkv (B,T,3C) is OVERWRITTEN, not accumulated (every element is written: no zeroing pass;
 * the one exception to the accumulate convention). scratch: attention_scratch_floats(T)
 * floats per thread (omp_get_max_threads()). */
size_t attention_scratch_floats(int T);
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        float *scratch, int B, int T, int C, int NH);
/* The same at a precision: NN_BF16 rounds the inputs of its four products (Q K^T, P V and
 * backward's) to bf16 where nn_bf16_native(); softmax, dS and all stored tensors stay fp32.
 * Elsewhere (no avx512_bf16, or no AVX-512 kernel) these are the fp32 functions. */
void attention_forward_prec(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int prec);
void attention_backward_prec(float *dqkv, const float *dout, const float *qkv, const float *att, float *scratch,
                             int B, int T, int C, int NH, int prec);
/* One new query per sequence against a key/value cache (generation): for B sequences and NH
 * query heads of size hs, out[b, h*hs..] = softmax(q k^T / sqrt(hs)) v over positions 0..pos.
 * q: row b at q + b*q_stride; K, V: (B, Tm, kv_stride), head h reading key/value head
 * h / (NH / KVH) (grouped-query attention; KVH = NH for plain multi-head); out (B, NH*hs);
 * scores: B*NH*Tm floats of scratch. */
void attention_step(float *out, const float *q, int q_stride, const float *K, const float *V, int kv_stride,
                    int B, int NH, int KVH, int hs, int pos, int Tm, float *scores);
#endif
