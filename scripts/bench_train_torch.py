#!/usr/bin/env python3
"""Plain-PyTorch side of scripts/bench_train.sh: one Llama training step, timed.

A Llama written the way a PyTorch user would write it (nn.Linear, RMSNorm with float32
statistics, RoPE from the position ids, F.scaled_dot_product_attention(is_causal=True),
SwiGLU MLP, untied lm_head, F.cross_entropy on float32 logits) trained with
torch.optim.AdamW (constructor defaults) after torch.nn.utils.clip_grad_norm_.

It mirrors `cream bench train` step for step: same shape, random tokens (labels are the
tokens, shifted inside the loss), positions 0..T-1, lr 1e-4, weight decay 0.1 except on
norms, gradient clipping at 1.0, AdamW betas (0.9, 0.999), eps 1e-8.

--dtype bf16 uses cream's fp32-masters scheme: float32 master weights that AdamW updates
and a bfloat16 copy of the model that runs forward and backward; after backward the bf16
gradients are cast to float32 onto the masters, clipped, the masters stepped, and copied
back into the bf16 model.

--dtype bf16-pure is what a PyTorch user gets from model.to(torch.bfloat16): bf16 weights,
bf16 gradients and torch.optim.AdamW's bf16 moments, updated in bf16 with round-to-nearest
(the counterpart of cream's --memory-mode bf16-rtn --grad-accumulation bf16).

Prints one JSON object. Usage: bench_train_torch.py [--layers 4 --hidden 256 --micro-batch 16 ...]
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, hidden, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.q_proj = nn.Linear(hidden, heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, hidden, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, hidden, intermediate):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.hidden, 1e-5)
        self.self_attn = Attention(a.hidden, a.heads, a.kv_heads)
        self.post_attention_layernorm = RMSNorm(a.hidden, 1e-5)
        self.mlp = MLP(a.hidden, a.intermediate)

    def forward(self, x, cos, sin):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.hidden)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.hidden, 1e-5)
        self.lm_head = nn.Linear(a.hidden, a.vocab, bias=False)
        head_dim = a.hidden // a.heads
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        for name, p in self.named_parameters():
            if "norm" not in name:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens, positions):
        angles = positions.float().unsqueeze(-1) * self.inv_freq  # [B, T, head_dim / 2]
        angles = torch.cat((angles, angles), dim=-1)
        h = self.embed_tokens(tokens)
        cos, sin = angles.cos().to(h.dtype), angles.sin().to(h.dtype)
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.lm_head(self.norm(h))

    def loss(self, tokens, positions):
        logits = self.forward(tokens, positions)[:, :-1].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("layers", 4), ("hidden", 256), ("heads", 4), ("kv-heads", 0), ("intermediate", 688),
                          ("vocab", 4096), ("seq", 256), ("threads", 2), ("warmup", 2), ("steps", 10), ("seed", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--micro-batch", "--batch", dest="batch", type=int, default=16)
    p.add_argument("--dtype", choices=["fp32", "bf16", "bf16-pure"], default="fp32")
    a = p.parse_args()
    a.kv_heads = a.kv_heads or a.heads
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    master = Llama(a)
    if a.dtype == "bf16-pure":
        master = master.to(torch.bfloat16)
    model = master
    if a.dtype == "bf16":
        model = Llama(a).to(torch.bfloat16)
        model.load_state_dict(master.state_dict())
    decay = [p for n, p in master.named_parameters() if "norm" not in n]
    no_decay = [p for n, p in master.named_parameters() if "norm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    pairs = list(zip(model.parameters(), master.parameters()))
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq), generator=torch.Generator().manual_seed(a.seed))
    positions = torch.arange(a.seq).unsqueeze(0).expand(a.batch, a.seq)

    phases = {"forward": 0.0, "backward": 0.0, "clip": 0.0, "optimizer": 0.0}

    def step():
        mark = [time.perf_counter()]

        def phase(name):
            now = time.perf_counter()
            phases[name] += now - mark[0]
            mark[0] = now

        loss = model.loss(tokens, positions)
        phase("forward")
        loss.backward()
        value = loss.item()
        phase("backward")
        if model is not master:
            for p, m in pairs:
                m.grad = p.grad.float()
                p.grad = None
        norm = torch.nn.utils.clip_grad_norm_(master.parameters(), 1.0)
        if not (math.isfinite(value) and math.isfinite(norm.item())):
            raise SystemExit("bench_train_torch: non-finite loss or gradient norm")
        phase("clip")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if model is not master:
            with torch.no_grad():
                for p, m in pairs:
                    p.copy_(m)
        phase("optimizer")
        return value

    for _ in range(a.warmup):
        step()
    phases.update((name, 0.0) for name in phases)
    times = []
    cpu_started = time.process_time()
    for _ in range(a.steps):
        started = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu_started
    total = sum(times)
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "dtype": a.dtype, "threads": torch.get_num_threads(),
        "scheme": {"fp32": "float32", "bf16": "bf16 compute copy, float32 master weights, gradients and AdamW",
                   "bf16-pure": "bf16 weights, gradients and AdamW moments, round-to-nearest"}[a.dtype],
        "shape": {"layers": a.layers, "hidden": a.hidden, "heads": a.heads, "kv_heads": a.kv_heads,
                  "intermediate": a.intermediate, "vocab": a.vocab, "batch": a.batch, "seq": a.seq},
        "warmup": a.warmup, "steps": a.steps,
        "tokens_per_s": round(a.batch * a.seq * a.steps / total, 1),
        "ms_per_step": round(1000 * total / a.steps, 2),
        "ms_per_step_min": round(1000 * min(times), 2),
        "cpu_ms_per_step": round(1000 * cpu / a.steps, 2),
        "final_loss": round(loss, 4),
        "phase_ms": {name: round(1000 * t / a.steps, 2) for name, t in phases.items()},
    }))


if __name__ == "__main__":
    main()
