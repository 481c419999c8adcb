#!/usr/bin/python3
"""PyTorch reference for pktlm's classification head (src/train/clshead.c), written from the
definition in docs/classify.md, in float64: pooling (mean | last | first over positions
0..len-1) of hidden states (B,T,C), linear C -> K, softmax cross-entropy weighted per row by
its class weight (rows with label -1 not counted). Writes tests/fixtures/clshead_ref.bin once;
committed, compared by tests/test_clshead.c (CI needs no torch).

    /usr/bin/python3 tools/torch_ref/clshead_ref.py [OUT]

Fixture (little-endian): int32 magic 0x44484350 "PCHD", B, T, C, K; len B x int32; y B x int32;
float32: class weights K, hidden B*T*C, W K*C, b K; then for pooling 0 (mean), 1 (last),
2 (first): loss, probs B*K, dW K*C, db K, dhidden B*T*C.
"""
import struct
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(11)
B, T, C, K = 4, 6, 5, 3
lens = [6, 3, 1, 4]
y = [2, 0, -1, 1]
cw = torch.tensor([0.5, 2.0, 1.25], dtype=torch.float64)
hidden0 = torch.randn(B, T, C, dtype=torch.float64)
W0 = torch.randn(K, C, dtype=torch.float64) * 0.5
b0 = torch.randn(K, dtype=torch.float64) * 0.1
f32 = lambda t: struct.pack('<%df' % t.numel(), *t.flatten().tolist())

out = struct.pack('<5i', 0x44484350, B, T, C, K) + struct.pack('<%di' % B, *lens) + struct.pack('<%di' % B, *y)
out += f32(cw) + f32(hidden0) + f32(W0) + f32(b0)
for pooling in range(3):
    hidden = hidden0.clone().requires_grad_(True)
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    rows = []
    for i in range(B):
        if pooling == 0:
            rows.append(hidden[i, :lens[i]].mean(0))
        elif pooling == 1:
            rows.append(hidden[i, lens[i] - 1])
        else:
            rows.append(hidden[i, 0])
    pooled = torch.stack(rows)
    logits = pooled @ W.t() + b
    probs = F.softmax(logits, dim=1)
    logp = F.log_softmax(logits, dim=1)
    num, den = 0, 0
    for i in range(B):
        if y[i] >= 0:
            num = num - cw[y[i]] * logp[i, y[i]]
            den = den + cw[y[i]]
    loss = num / den
    loss.backward()
    out += f32(loss.detach().reshape(1)) + f32(probs.detach()) + f32(W.grad) + f32(b.grad) + f32(hidden.grad)
path = sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/clshead_ref.bin'
open(path, 'wb').write(out)
print('wrote', path, len(out), 'bytes')
