"""The `decode-export` build phase: a GPT-2 decode-step graph that reads the KV cache in place and
returns only the new position's keys and values, so a decode step never copies the cache.

The Optimum export (onnx_export.py) concatenates each step's position onto a left-padded past:
every step reads and writes the whole cache (rows x width) inside onnxruntime, and
onnxruntime-node copies every `present` back into a new JavaScript buffer, so a step costs three
passes over the cache before attention reads it. Here the cache is a buffer the serving worker
owns, [rows, heads, capacity, dim] per layer, each row's positions from column 0 (right-padded);
`position_ids` [rows, 1] is both the new token's position and the count of the row's cached
positions, so the graph masks columns at or past it. Attention scores the cached columns and the
new position separately (no concatenation of keys or values). The outputs are the logits and
`new_key_values.{i}.key|value` [rows, heads, 1, dim], which the worker writes into column
`position_ids` of each row. A free row (position 0) attends only to itself.

Decode only: prefill stays on the Optimum export, whose present the worker copies into the buffer.
`model_decode.onnx` beside `model.onnx`, and for tinygpt `model_lora_decode.onnx` with the LoRA
inputs of lora_export.py.
"""
import copy
import math
from pathlib import Path

import torch
from torch import nn

from gpt2 import gelu_new
from onnx_export import trace_export


def decode_block(block, x, past_k, past_v, valid):
    """Block.forward (gpt2.py) for one new position per row over a masked, in-place past."""
    b, _, d = x.shape
    hd = d // block.n_head
    q, k, v = block.c_attn(block.ln_1(x)).split(d, dim=2)
    q, k, v = (z.view(b, 1, block.n_head, hd).transpose(1, 2) for z in (q, k, v))
    scale = 1.0 / math.sqrt(hd)
    cached = (q @ past_k.transpose(-2, -1)) * scale
    cached = torch.where(valid, cached, torch.tensor(torch.finfo(cached.dtype).min, dtype=cached.dtype))
    own = (q * k).sum(-1, keepdim=True) * scale
    p = torch.softmax(torch.cat([cached, own], dim=-1), dim=-1)
    capacity = past_k.shape[2]
    y = p[..., :capacity] @ past_v + p[..., capacity:] * v
    x = x + block.c_proj(y.transpose(1, 2).reshape(b, 1, d))
    x = x + block.mlp_proj(gelu_new(block.c_fc(block.ln_2(x))))
    return x, k, v


class _FlatDecode(nn.Module):
    """(input_ids, position_ids, [adapter_index], *past, [*lora]) -> (logits, *new_key_values);
    `lora_slots` set when the blocks' linears are lora_export.SlotLoRALinear."""

    def __init__(self, model, lora_slots=None):
        super().__init__()
        self.model, self.lora_slots = model, lora_slots

    def forward(self, input_ids, position_ids, *rest):
        n = self.model.cfg["n_layer"]
        if self.lora_slots is not None:
            adapter_index, rest = rest[0], rest[1:]
            past_flat, lora = rest[: 2 * n], rest[2 * n :]
            from lora_export import set_stacks

            set_stacks(self.lora_slots, lora, adapter_index)
        else:
            past_flat = rest
        m = self.model
        x = m.wte(input_ids) + m.wpe(position_ids)
        capacity = past_flat[0].shape[2]
        # [rows, 1, 1, capacity]: a row's cached columns are those left of its new position.
        valid = (torch.arange(capacity).unsqueeze(0) < position_ids).unsqueeze(1).unsqueeze(2)
        new = []
        for i, block in enumerate(m.h):
            x, k, v = decode_block(block, x, past_flat[2 * i], past_flat[2 * i + 1], valid)
            new += [k, v]
        return (m.ln_f(x) @ m.wte.weight.t(), *new)


def _names(n_layer):
    past = [f"past_key_values.{i}.{kind}" for i in range(n_layer) for kind in ("key", "value")]
    new = [f"new_key_values.{i}.{kind}" for i in range(n_layer) for kind in ("key", "value")]
    return past, new


def _trace_args(cfg, capacity=6):
    """Two rows of different lengths (3 and 1 cached positions) in a buffer of 6 columns."""
    n_head, hd = cfg["n_head"], cfg["n_embd"] // cfg["n_head"]
    past = [torch.randn(2, n_head, capacity, hd) for _ in range(2 * cfg["n_layer"])]
    return torch.randint(0, 256, (2, 1)), torch.tensor([[3], [1]]), past


def _axes(past, new):
    axes = {"input_ids": {0: "batch_size"}, "position_ids": {0: "batch_size"}, "logits": {0: "batch_size"}}
    for name in past:
        axes[name] = {0: "batch_size", 2: "capacity"}
    for name in new:
        axes[name] = {0: "batch_size"}
    return axes


def export_decode_onnx(model, path: Path):
    """The decode-step graph of `model` (a gpt2.GPT2); returns its size."""
    ids, pos, past = _trace_args(model.cfg)
    past_names, new_names = _names(model.cfg["n_layer"])
    return trace_export(_FlatDecode(model), (ids, pos, *past), path, ["input_ids", "position_ids", *past_names],
                        ["logits", *new_names], _axes(past_names, new_names))


def export_lora_decode_onnx(base, path: Path):
    """The LoRA decode-step graph of a base (a model directory, or the GPT2 itself, copied),
    inputs named as lora_export.py's."""
    from base_from_onnx import load_base
    from lora_export import lora_axes, lora_input_names, trace_lora, wrap_slots

    model = copy.deepcopy(base) if isinstance(base, torch.nn.Module) else load_base(base)
    cfg = model.cfg
    slots = wrap_slots(model)
    ids, pos, past = _trace_args(cfg)
    lora = trace_lora(cfg)
    past_names, new_names = _names(cfg["n_layer"])
    lora_names = lora_input_names(cfg["n_layer"])
    axes = {**_axes(past_names, new_names), "adapter_index": {0: "batch_size"}, **lora_axes(cfg["n_layer"])}
    return trace_export(_FlatDecode(model, slots), (ids, pos, torch.tensor([0, 2]), *past, *lora), path,
                        ["input_ids", "position_ids", "adapter_index", *past_names, *lora_names], ["logits", *new_names], axes)
