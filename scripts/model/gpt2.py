"""GPT-2 architecture (pre-LayerNorm, learned positions, tied embeddings, gelu_new) with the
Optimum-style KV-cache interface used for export: forward(input_ids, attention_mask,
position_ids, past) -> (logits, present).
"""
import math

import torch
from torch import nn

from attention import attend, build_mask


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["n_embd"], cfg["layer_norm_epsilon"]
        self.n_head = cfg["n_head"]
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x, mask, past):
        b, t, d = x.shape
        hd = d // self.n_head
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, hd).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        y = attend(q, k, v, mask).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(x))))
        return x, (k, v)


class GPT2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["n_embd"]
        self.wte = nn.Embedding(cfg["vocab_size"], d)
        self.wpe = nn.Embedding(cfg["n_positions"], d)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(d, eps=cfg["layer_norm_epsilon"])
        self.apply(self._init)
        # GPT-2's scaled init of residual projections.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg["n_layer"]))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        x = self.wte(input_ids) + self.wpe(position_ids)
        mask = build_mask(attention_mask, input_ids.shape[1])
        present = []
        for i, block in enumerate(self.h):
            x, kv = block(x, mask, None if past is None else past[i])
            present.append(kv)
        logits = self.ln_f(x) @ self.wte.weight.t()  # tied embeddings
        return logits, present

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())
