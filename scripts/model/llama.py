"""Llama architecture (RMSNorm, rotary positions, SwiGLU, grouped-query attention) with the same
export interface as gpt2.GPT2. Used for a random-weight fixture: past tensors have
num_key_value_heads heads, as in every Llama-family Optimum export.
"""
import torch
from torch import nn

from attention import attend, build_mask


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rope(x, position_ids, theta):
    """Rotary embedding in Hugging Face's non-interleaved (rotate_half) convention."""
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    freqs = position_ids.unsqueeze(-1).float() * inv_freq  # [b, t, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1).unsqueeze(1)  # [b, 1, t, hd]
    return x * emb.cos() + rotate_half(x) * emb.sin()


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["rms_norm_eps"]
        self.n_head, self.n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = cfg["head_dim"]
        self.theta = cfg["rope_theta"]
        self.input_layernorm = RMSNorm(d, eps)
        self.q_proj = nn.Linear(d, self.n_head * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.n_kv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.n_kv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.n_head * self.hd, d, bias=False)
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.gate_proj = nn.Linear(d, cfg["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(d, cfg["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(cfg["intermediate_size"], d, bias=False)

    def repeat_kv(self, x):
        """Each key/value head serves n_head / n_kv query heads (HF's repeat_kv; repeat_interleave
        exports with a fixed shape in torch 1.13)."""
        b, n_kv, s, hd = x.shape
        group = self.n_head // n_kv
        return x.unsqueeze(2).expand(b, n_kv, group, s, hd).reshape(b, n_kv * group, s, hd)

    def forward(self, x, mask, position_ids, past):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.n_head, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.n_kv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.n_kv, self.hd).transpose(1, 2)
        q, k = rope(q, position_ids, self.theta), rope(k, position_ids, self.theta)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        y = attend(q, self.repeat_kv(k), self.repeat_kv(v), mask)
        x = x + self.o_proj(y.transpose(1, 2).reshape(b, t, self.n_head * self.hd))
        h = self.post_attention_layernorm(x)
        x = x + self.down_proj(nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))
        return x, (k, v)


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["hidden_size"]
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], d)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(d, cfg["rms_norm_eps"])
        self.lm_head = nn.Linear(d, cfg["vocab_size"], bias=False)

    def init_random(self, seed):
        """Seeded weights large enough that greedy choices are well separated (no near-ties)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("layernorm.weight") or name == "norm.weight":
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                elif name == "embed_tokens.weight":
                    p.copy_(torch.randn(p.shape, generator=g))
                elif name == "lm_head.weight":
                    p.copy_(torch.randn(p.shape, generator=g))
                else:
                    p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        x = self.embed_tokens(input_ids)
        mask = build_mask(attention_mask, input_ids.shape[1])
        present = []
        for i, block in enumerate(self.layers):
            x, kv = block(x, mask, position_ids, None if past is None else past[i])
            present.append(kv)
        return self.lm_head(self.norm(x)), present

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())
