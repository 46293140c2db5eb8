"""Self-check of the committed adapters (no training, ~20 s):
    OPENBLAS_NUM_THREADS=2 /usr/bin/python3 scripts/model/lora_selftest.py
The safetensors writer/reader round-trips and rejects truncated files; each adapter directory has
the PEFT fields and key names; reloading it onto the base recovered from ONNX reproduces its
reference.json (exact greedy ids, first-step logits within 1e-5)."""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import configs  # noqa: E402
from lora_build import self_check  # noqa: E402
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PEFT_FIELDS = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tinygpt",
               "fan_in_fan_out": True, "bias": "none"}


def check_safetensors_io():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.safetensors"
        tensors = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones((1,), np.float32)}
        write_safetensors(path, tensors)
        back = read_safetensors(path)
        assert all(np.array_equal(back[k], v) for k, v in tensors.items()), "round trip changed values"
        assert (8 + int.from_bytes(path.read_bytes()[:8], "little")) % 8 == 0, "data not 8-byte aligned"
        path.write_bytes(path.read_bytes()[:-4])
        try:
            read_safetensors(path)
        except ValueError as err:
            assert "data_offsets" in str(err), err
        else:
            raise AssertionError("a truncated safetensors file was accepted")
    print("ok   safetensors writer/reader round-trip; truncated file rejected")


def check_layout(spec, out: Path):
    cfg = json.loads((out / "adapter_config.json").read_text())
    for k, v in PEFT_FIELDS.items():
        assert cfg[k] == v, f"{out.name}: adapter_config.json {k} = {cfg[k]!r}, expected {v!r}"
    assert cfg["r"] == spec["r"] and cfg["lora_alpha"] == spec["alpha"], f"{out.name}: r/lora_alpha"
    tensors = read_safetensors(out / "adapter_model.safetensors")
    d = 160
    shapes = {"attn.c_attn": (d, 3 * d), "attn.c_proj": (d, d), "mlp.c_fc": (d, 4 * d), "mlp.c_proj": (4 * d, d)}
    for i in range(4):
        for name, (n_in, n_out) in shapes.items():
            prefix = f"base_model.model.transformer.h.{i}.{name}"
            assert tensors[f"{prefix}.lora_A.weight"].shape == (cfg["r"], n_in), f"{prefix}.lora_A shape"
            assert tensors[f"{prefix}.lora_B.weight"].shape == (n_out, cfg["r"]), f"{prefix}.lora_B shape"
    assert len(tensors) == 4 * 2 * len(shapes), f"{out.name}: {len(tensors)} tensors"
    print(f"ok   {out.name}: PEFT config and {len(tensors)} tensors shaped as PEFT saves them for GPT-2")


if __name__ == "__main__":
    torch.set_num_threads(1)
    check_safetensors_io()
    for spec in configs.LORA:
        out = ROOT / "models" / spec["name"]
        check_layout(spec, out)
        self_check(ROOT / "models" / "tinygpt", out)
