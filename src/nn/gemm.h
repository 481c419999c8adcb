/* Internal to src/nn/: the AVX-512 micro-kernel and packing routines of gemm.c, reused by
 * the causal attention (nn.c) to pack K, V, Q once per (batch, head) and to skip the tiles
 * above the diagonal. Only present when compiled with AVX-512 (NN_HAVE_KERNEL). */
#ifndef PKTLM_NN_GEMM_H
#define PKTLM_NN_GEMM_H
#ifdef __AVX512F__
#define NN_HAVE_KERNEL 1
#define NN_MR 14   /* rows of op(A) per tile */
#define NN_NR 32   /* columns of op(B) per panel */
/* op(B)[k0:k0+kc, j0:j0+NR] -> bp[k*NR + jj] (k-major), zero beyond N */
void nn_pack_b(float *bp, int transB, const float *B, int ldb, int k0, int kc, int j0, int N);
/* op(A)[i0:i0+MR, k0:k0+kc] -> ap[k*MR + r] (k-major), zero beyond M */
void nn_pack_a(float *ap, int transA, const float *A, int lda, int i0, int M, int k0, int kc);
/* C[0:mr, 0:nr] += alpha * ap (MR x kc) . bp (kc x NR) */
void nn_kernel(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr);
/* the same with C = alpha * ap . bp (C is not read) */
void nn_kernel_store(int kc, const float *ap, const float *bp, float *C, int ldc, float alpha, int mr, int nr);
/* C[0:mr, 0:nr] = alpha * op(A) . bp (C not read), reading op(A) in place: element (r, k) at
 * A[r*rs + k*ks] */
void nn_kernel_strided(int kc, const float *A, int rs, int ks, const float *bp, float *C, int ldc, float alpha,
                       int mr, int nr);
/* dst[k*ldd + r] = src[r*lds + k] for r < rows, k < cols (a transpose, 16 x 16 blocks in
 * registers); dst's columns rows..round16(rows)-1 are written as zeros */
void nn_transpose(float *dst, int ldd, const float *src, size_t lds, int rows, int cols);
/* bf16 counterparts (NN_BF16; call only when nn_bf16_native()): panels of 32-bit words, each a
 * pair of bf16 (k even in the low half, k + 1 in the high half, a missing k + 1 zero):
 * bp[(k/2)*NR + jj], ap[(k/2)*MR + r]; the kernels take kp = ceil(kc/2) pairs. */
#include <stdint.h>
void nn_pack_b_bf16(uint32_t *bp, int transB, const float *B, int ldb, int k0, int kc, int j0, int N);
void nn_pack_a_bf16(uint32_t *ap, int transA, const float *A, int lda, int i0, int M, int k0, int kc);
void nn_kernel_bf16(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc, float alpha, int mr, int nr);
void nn_kernel_store_bf16(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc, float alpha, int mr,
                          int nr);
#endif
#endif
