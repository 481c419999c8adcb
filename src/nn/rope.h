/* Rotary position embedding (RoPE): each pair of dimensions of a query/key head is rotated by
 * an angle pos * theta^(-2i/hs). Two pairings are in use, by the models we read:
 *   ROPE_HALF         dimension i with i + hs/2 (Hugging Face's rotate_half: Qwen2)
 *   ROPE_INTERLEAVED  dimension 2i with 2i+1 (torchtune's RotaryPositionalEmbeddings: tcpflowgen)
 * The rotation is orthogonal: its backward is the rotation by -angle (inverse = 1). */
#ifndef PKTLM_ROPE_H
#define PKTLM_ROPE_H

enum { ROPE_HALF = 0, ROPE_INTERLEAVED = 1 };

/* cos, sin of position pos for the hs/2 frequencies: cs[0..hs/2) cos, cs[hs/2..hs) sin. Angles
 * in double so long contexts lose nothing to the product pos * freq. */
void rope_angles(float *cs, int pos, int hs, double theta);
/* Rotate nh heads of hs at the start of row x (q heads then k heads are contiguous in a qkv
 * row) by the angles cs of one position: pair (a, b) -> (a cos - b sin, b cos + a sin). */
void rope_row(float *x, int nh, int hs, const float *cs, int pairing, int inverse);
/* N rows of stride ld, row n at position n % T; cs: (T, hs) from rope_angles. Parallel (OpenMP). */
void rope_rows(float *x, int ld, int nh, int hs, const float *cs, int N, int T, int pairing, int inverse);
#endif
