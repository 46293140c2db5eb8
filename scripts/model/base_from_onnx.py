"""Recovers the PyTorch GPT2 module from a committed ONNX export (the training checkpoint lives in
the ignored build/ folder). Named initializers map to parameters directly; the linear weights
were folded into anonymous MatMul initializers [in, out], which appear per layer in the order
c_attn, c_proj, c_fc, mlp_proj, then the tied LM head."""
import json
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

from gpt2 import GPT2
from reference import compare_reference, compute_reference

LINEARS = ("c_attn", "c_proj", "c_fc", "mlp_proj")


def model_cfg(model_dir: Path):
    c = json.loads((model_dir / "config.json").read_text())
    keys = ("vocab_size", "n_positions", "n_embd", "n_head", "n_layer", "layer_norm_epsilon")
    return {k: c[k] for k in keys}


def load_base(model_dir: Path) -> GPT2:
    cfg = model_cfg(model_dir)
    graph = onnx.load(str(model_dir / "onnx" / "model.onnx")).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    # MatMul weights in the order the graph consumes them.
    matmuls = []
    for node in graph.node:
        if node.op_type == "MatMul":
            matmuls += [n for n in node.input if n in inits and inits[n].ndim == 2 and n not in matmuls]
    model = GPT2(cfg)
    state = {}
    for name in model.state_dict():
        if f"model.{name}" in inits:
            state[name] = torch.from_numpy(inits[f"model.{name}"].copy())
    expected = [f"h.{i}.{l}.weight" for i in range(cfg["n_layer"]) for l in LINEARS]
    if len(matmuls) != len(expected) + 1:
        raise ValueError(f"{model_dir}: {len(matmuls)} MatMul weights, expected {len(expected) + 1}")
    for name, init in zip(expected, matmuls):
        w = torch.from_numpy(inits[init].T.copy())
        if tuple(w.shape) != tuple(model.state_dict()[name].shape):
            raise ValueError(f"{model_dir}: MatMul {init} shape {tuple(w.shape)} does not fit {name}")
        state[name] = w
    missing = set(model.state_dict()) - set(state)
    if missing:
        raise ValueError(f"{model_dir}: no initializer for {sorted(missing)}")
    model.load_state_dict(state)
    model.eval()
    if not torch.allclose(torch.from_numpy(inits[matmuls[-1]].copy()), model.wte.weight.t()):
        raise ValueError(f"{model_dir}: LM head MatMul is not the transposed token embedding")
    return model


def check_base(model, model_dir: Path, tol=1e-4):
    """The recovered module must reproduce the committed reference vectors."""
    want = json.loads((model_dir / "reference.json").read_text())
    return compare_reference(want, compute_reference(model, want["model"]), f"{model_dir}: recovered base", "prompts", tol)
