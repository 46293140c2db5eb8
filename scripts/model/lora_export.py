"""The `lora-export` build phase: tinygpt exported with LoRA weights as graph inputs, so one decode
pass serves rows with different adapters (the Punica / S-LoRA idea) and loading an adapter never
re-creates the onnxruntime session.

Beside the Optimum inputs of onnx_export.py the graph takes `adapter_index` [batch] (int64; slot 0
is "no adapter", all zeros) and, for every LoRA-able linear of every block, a stacked
`lora_A.transformer.h.{i}.{module}` [slots, rank, in] and `lora_B.transformer.h.{i}.{module}`
[slots, rank, out] (PEFT's lora_B transposed, so the pass multiplies without a transpose per step)
with the adapter's scaling (lora_alpha / r) folded into B. The input names are
PEFT's tensor keys without `base_model.model.` and `.lora_A.weight`, so a worker maps an adapter's
safetensors onto them by name. Slots and rank are dynamic: an adapter of smaller rank is padded
with zeros, a module an adapter does not target stays zero in its slot.
"""
import copy
from pathlib import Path

import torch
from torch import nn

from base_from_onnx import load_base
from lora import HF_NAMES, load_adapter, lora_modules
from onnx_export import io_names, trace_export
from reference import left_pad, positions


class SlotLoRALinear(nn.Module):
    """base(x) + each row's own adapter; the stacked A, B and the rows' slot mask are set per pass.

    Every slot's A at once (one GEMM of [rows, in] by [in, slots * rank]), the columns of other
    slots zeroed by the mask, then every slot's B at once: two plain GEMMs per linear. Gathering
    each row's A and B instead copies rows * rank * (in + out) floats per linear per pass and runs
    a batched GEMM of one row each; on tinygpt's decode step that cost a quarter of its speed.
    """

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.base = base
        self.stack = None

    def forward(self, x):
        a, b, mask = self.stack
        # a [slots, rank, in] -> [slots * rank, in]; b [slots, rank, out] -> [slots * rank, out].
        down = torch.matmul(x, a.flatten(0, 1).t()) * mask
        return self.base(x) + torch.matmul(down, b.flatten(0, 1))


def slot_mask(adapter_index, a):
    """[rows, 1, slots * rank]: 1 on the columns of each row's own slot (a: any stacked A)."""
    own = (torch.arange(a.shape[0]).unsqueeze(0) == adapter_index.unsqueeze(1)).to(a.dtype)
    return (own.unsqueeze(2) * torch.ones_like(a[:, :, 0]).unsqueeze(0)).flatten(1).unsqueeze(1)


def set_stacks(slots, lora, adapter_index):
    """Gives every SlotLoRALinear its A and B (lora_input_names order) and the one shared mask."""
    mask = slot_mask(adapter_index, lora[0])
    for k, m in enumerate(slots):
        m.stack = (lora[2 * k], lora[2 * k + 1], mask)


def linear_shapes(cfg):
    """(in, out) of each LoRA-able linear of a GPT-2 block, in HF_NAMES order."""
    d = cfg["n_embd"]
    return {"c_attn": (d, 3 * d), "c_proj": (d, d), "c_fc": (d, 4 * d), "mlp_proj": (4 * d, d)}


def lora_input_names(n_layer):
    modules = [f"transformer.h.{i}.{hf}" for i in range(n_layer) for hf in HF_NAMES.values()]
    return [f"lora_{part}.{m}" for m in modules for part in ("A", "B")]


def wrap_slots(model):
    """Wraps every LoRA-able linear of `model` in a SlotLoRALinear; returns them in lora_input_names order."""
    for block in model.h:
        for t in HF_NAMES:
            setattr(block, t, SlotLoRALinear(getattr(block, t)))
    return [getattr(block, t) for block in model.h for t in HF_NAMES]


def trace_lora(cfg, slots=3, rank=3):
    """Small random stacked A and B for tracing, in lora_input_names order (neither dimension is specialised)."""
    lora = []
    for _ in range(cfg["n_layer"]):
        for fan_in, fan_out in linear_shapes(cfg).values():
            lora += [torch.randn(slots, rank, fan_in) * 0.01, torch.randn(slots, rank, fan_out) * 0.01]
    return lora


def lora_axes(n_layer):
    """Dynamic slots and rank of every stacked A [slots, rank, in] and B [slots, rank, out]."""
    return {name: {0: "lora_slots", 1: "lora_rank"} for name in lora_input_names(n_layer)}


class _FlatLoRA(nn.Module):
    def __init__(self, model, n_layer):
        super().__init__()
        self.model, self.n_layer = model, n_layer
        self.slots = wrap_slots(model)

    def forward(self, input_ids, attention_mask, position_ids, adapter_index, *rest):
        past_flat, lora = rest[: 2 * self.n_layer], rest[2 * self.n_layer :]
        set_stacks(self.slots, lora, adapter_index)
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.n_layer)]
        logits, present = self.model(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in present for t in kv])


def stacked_lora(model, adapters, rank):
    """Slot 0 zeros, then one slot per adapter model (LoRALinear modules from lora.load_adapter),
    scaling folded into B, padded to `rank`; in lora_input_names order."""
    shapes = linear_shapes(model.cfg)
    found = [{prefix: m for prefix, m in lora_modules(a)} for a in adapters]
    out = []
    for i in range(model.cfg["n_layer"]):
        for t, hf in HF_NAMES.items():
            fan_in, fan_out = shapes[t]
            a = torch.zeros(len(adapters) + 1, rank, fan_in)
            b = torch.zeros(len(adapters) + 1, rank, fan_out)
            for s, mods in enumerate(found, start=1):
                m = mods.get(f"base_model.model.transformer.h.{i}.{hf}")
                if m is not None:
                    a[s, : m.r] = m.lora_A.detach()
                    b[s, : m.r] = m.lora_B.detach().t() * m.scaling
            out += [a, b]
    return out


def export_lora_onnx(base, path: Path):
    """Traces with two adapter slots of rank 3 and a mixed batch, so neither slots, rank nor batch
    is specialised, then checks the graph. `base`: a model directory (its ONNX export is read back)
    or the GPT2 itself (left as it is: the slots wrap a copy)."""
    model = copy.deepcopy(base) if isinstance(base, nn.Module) else load_base(base)
    cfg = model.cfg
    n_layer, n_head, d = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    inputs, outputs = io_names(n_layer)
    lora_names = lora_input_names(n_layer)
    b, t, p = 2, 3, 4
    input_ids = torch.randint(0, 256, (b, t))
    attention_mask = torch.ones(b, p + t, dtype=torch.int64)
    attention_mask[1, :2] = 0
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, p:]
    adapter_index = torch.tensor([0, 2])
    past = [torch.randn(b, n_head, p, d // n_head) for _ in range(2 * n_layer)]
    lora = trace_lora(cfg)
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "adapter_index": {0: "batch_size"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for name in inputs[3:]:
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in outputs[1:]:
        axes[name] = {0: "batch_size", 2: "past_sequence_length + sequence_length"}
    axes.update(lora_axes(n_layer))
    return trace_export(_FlatLoRA(model, n_layer), (input_ids, attention_mask, position_ids, adapter_index, *past, *lora), path,
                        [*inputs[:3], "adapter_index", *inputs[3:], *lora_names], outputs, axes)


@torch.no_grad()
def check_mixed_batch(base_dir: Path, adapter_dirs, questions):
    """The stacked module in PyTorch, one mixed batch (row r uses slot r: base, then each adapter),
    against each adapter applied alone (lora.load_adapter): the stacking the export traces is the
    adapter's own arithmetic. Returns the largest logit difference."""
    from instructions import chat_prompt

    adapters = [load_adapter(load_base(base_dir), d) for d in adapter_dirs]
    plain = load_base(base_dir).eval()
    model = load_base(base_dir)
    flat = _FlatLoRA(model, model.cfg["n_layer"]).eval()
    rank = max(m.r for a in adapters for _, m in lora_modules(a))
    lora = stacked_lora(model, adapters, rank)
    prompts = [chat_prompt(q) for q in questions[: len(adapters) + 1]]
    ids, mask = left_pad(prompts)
    pos = positions(mask)
    n_layer, n_head, d = model.cfg["n_layer"], model.cfg["n_head"], model.cfg["n_embd"]
    past = [torch.zeros(len(prompts), n_head, 0, d // n_head) for _ in range(2 * n_layer)]
    mixed = flat(ids, mask, pos, torch.arange(len(prompts)), *past, *lora)[0]
    worst = 0.0
    for r, alone in enumerate([plain, *adapters]):
        want = alone(ids[r : r + 1], mask[r : r + 1], pos[r : r + 1])[0]
        worst = max(worst, (mixed[r : r + 1] - want).abs().max().item())
    if worst > 1e-4:
        raise RuntimeError(f"mixed-adapter batch differs from each adapter alone by {worst:.1e}")
    return worst
