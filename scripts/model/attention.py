"""Attention masking shared by the GPT-2 and Llama definitions.

The mask combines causality with the padding mask and is applied with the dtype minimum, not
-inf, so a fully masked row (a left-padding position) gives a uniform softmax instead of NaN.
"""
import math

import torch


def build_mask(attention_mask, seq_len):
    """Boolean [batch, 1, seq, past+seq]: True where a query may attend a key."""
    total = attention_mask.shape[1]
    past = total - seq_len
    q_pos = torch.arange(seq_len, device=attention_mask.device).unsqueeze(1) + past
    k_pos = torch.arange(total, device=attention_mask.device).unsqueeze(0)
    causal = k_pos <= q_pos
    return causal.unsqueeze(0).unsqueeze(0) & attention_mask.bool().unsqueeze(1).unsqueeze(2)


def attend(q, k, v, mask):
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = torch.where(mask, scores, torch.tensor(torch.finfo(scores.dtype).min, dtype=scores.dtype))
    return torch.softmax(scores, dim=-1) @ v
