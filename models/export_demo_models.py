#!/usr/bin/env python3
"""Exports seqserve's demo models as TorchScript with the pinned PyTorch, plus reference data.

Usage: export_demo_models.py OUT_DIR

Writes:
  OUT_DIR/<model>/config.pbtxt         copied from models/<model>/config.pbtxt
  OUT_DIR/<model>/1/model.pt           TorchScript module
  OUT_DIR/../reference/<case>/...      inputs and outputs computed here, for the tests

Reference format (read by tests/ C++ and Python helpers): reference/manifest.txt has one line per
tensor:  <case> <model> <in|out> <tensor> <dtype> <rank> <dim>... <file>
and <file> holds the raw little-endian elements, row-major.
Weights come from a fixed seed, so two exports give the same models.
"""
import math
import os
import shutil
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))

VOCAB, D_MODEL, HEADS, LAYERS, FFN, CLASSES, MAX_LEN = 1000, 256, 4, 4, 1024, 4, 512


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer with an explicit additive attention mask."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        self.norm1 = nn.LayerNorm(D_MODEL)
        self.norm2 = nn.LayerNorm(D_MODEL)
        self.ff1 = nn.Linear(D_MODEL, FFN)
        self.ff2 = nn.Linear(FFN, D_MODEL)
        self.heads = HEADS
        self.d_model = D_MODEL
        self.scale = 1.0 / math.sqrt(D_MODEL // HEADS)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + key_bias
        attn = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, l, d)
        x = x + self.proj(attn)
        return x + self.ff2(torch.relu(self.ff1(self.norm2(x))))


class Encoder(nn.Module):
    """input_ids [B, L] int64, attention_mask [B, L] int64 -> (logits [B, C], token_scores [B, L])."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D_MODEL)
        self.pos = nn.Embedding(MAX_LEN, D_MODEL)
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D_MODEL)
        self.cls = nn.Linear(D_MODEL, CLASSES)
        self.tok_head = nn.Linear(D_MODEL, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        l = input_ids.shape[1]
        positions = torch.arange(l, device=input_ids.device).unsqueeze(0)
        x = self.tok(input_ids) + self.pos(positions)
        mask = attention_mask.to(x.dtype)
        key_bias = ((1.0 - mask) * -1e9).unsqueeze(1).unsqueeze(1)  # [B, 1, 1, L]
        for layer in self.layers:
            x = layer(x, key_bias)
        x = self.norm(x)
        pooled = (x * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.cls(pooled), self.tok_head(x).squeeze(-1)


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1000, 10)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.fc(input)


DTYPE_NAMES = {torch.int64: "INT64", torch.float32: "FP32"}


class Reference:
    def __init__(self, root):
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        self.lines = []

    def add(self, case, model, direction, name, t):
        t = t.detach().contiguous().cpu()
        fname = f"{case}.{direction}.{name}.bin"
        with open(os.path.join(self.root, fname), "wb") as f:
            f.write(t.numpy().tobytes())
        dims = " ".join(str(d) for d in t.shape)
        self.lines.append(f"{case} {model} {direction} {name} {DTYPE_NAMES[t.dtype]} {t.dim()} {dims} {fname}")

    def close(self):
        with open(os.path.join(self.root, "manifest.txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def export(model, name, out_dir):
    model_dir = os.path.join(out_dir, name)
    os.makedirs(os.path.join(model_dir, "1"), exist_ok=True)
    shutil.copy(os.path.join(HERE, name, "config.pbtxt"), os.path.join(model_dir, "config.pbtxt"))
    scripted = torch.jit.script(model)
    scripted.save(os.path.join(model_dir, "1", "model.pt"))
    return scripted


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = os.path.abspath(sys.argv[1])
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    encoder = Encoder().eval()
    linear = Linear().eval()
    with torch.no_grad():
        enc = export(encoder, "encoder", out_dir)
        lin = export(linear, "linear", out_dir)
        ref = Reference(os.path.join(os.path.dirname(out_dir), "reference"))
        gen = torch.Generator().manual_seed(1)
        # Each case runs alone (no padding), as a client would send it.
        for case, rows, length in [("enc_1x7", 1, 7), ("enc_3x33", 3, 33), ("enc_1x512", 1, 512), ("enc_2x1", 2, 1)]:
            ids = torch.randint(0, VOCAB, (rows, length), generator=gen)
            mask = torch.ones(rows, length, dtype=torch.int64)
            logits, scores = enc(ids, mask)
            for direction, n, t in [("in", "input_ids", ids), ("in", "attention_mask", mask),
                                    ("out", "logits", logits), ("out", "token_scores", scores)]:
                ref.add(case, "encoder", direction, n, t)
        for case, rows in [("lin_1", 1), ("lin_5", 5)]:
            x = torch.randn(rows, 1000, generator=gen)
            ref.add(case, "linear", "in", "input", x)
            ref.add(case, "linear", "out", "output", lin(x))
        ref.close()
    print(f"exported encoder, linear to {out_dir} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
