"""ONNX export with the names and dynamic axes of Optimum's `text-generation-with-past` task, so
that one serving path handles our models and any Optimum export (GPT-2, Llama, Qwen, ...)."""
from pathlib import Path

import warnings

import onnx
import torch
from torch import nn

OPSET = 17


class _Flat(nn.Module):
    """Flattens past/present tuples into the positional inputs/outputs ONNX needs."""

    def __init__(self, model, n_layer):
        super().__init__()
        self.model, self.n_layer = model, n_layer

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(self.n_layer)]
        logits, present = self.model(input_ids, attention_mask, position_ids, past)
        return (logits, *[t for kv in present for t in kv])


def io_names(n_layer):
    past = [f"past_key_values.{i}.{kind}" for i in range(n_layer) for kind in ("key", "value")]
    present = [f"present.{i}.{kind}" for i in range(n_layer) for kind in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *past], ["logits", *present]


def export_onnx(model, n_layer, n_kv_heads, head_dim, path: Path):
    """Traces with non-trivial shapes (batch 2, 3 new tokens, past 4, one left-padded row) so no
    dimension is specialised, then checks the graph."""
    inputs, outputs = io_names(n_layer)
    b, t, p = 2, 3, 4
    input_ids = torch.randint(0, 256, (b, t))
    attention_mask = torch.ones(b, p + t, dtype=torch.int64)
    attention_mask[1, :2] = 0
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, p:]
    past = [torch.randn(b, n_kv_heads, p, head_dim) for _ in range(2 * n_layer)]
    axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "past_sequence_length + sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for name in inputs[3:]:
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in outputs[1:]:
        axes[name] = {0: "batch_size", 2: "past_sequence_length + sequence_length"}
    return trace_export(_Flat(model, n_layer), (input_ids, attention_mask, position_ids, *past), path, inputs, outputs, axes)


def trace_export(module, args, path: Path, input_names, output_names, axes):
    """Traces `module` on `args` into `path` at our opset and checks the graph; returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tracer warns about Python constants (head dim, dtype minimum); they are constants.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    onnx.checker.check_model(onnx.load(str(path)))
    return path.stat().st_size
