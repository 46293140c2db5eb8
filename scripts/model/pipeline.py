"""Writes model directories in the Hugging Face / Optimum layout: config files, tokenizer files,
onnx/model.onnx, reference.json and (tinygpt) the model card."""
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from card import render_card
from decode_export import export_decode_onnx
from gpt2 import GPT2
from llama import Llama
from onnx_export import OPSET, export_onnx
from reference import compute_reference, positions
from tokenizer_files import EOT_ID, VOCAB_SIZE, write_tokenizer_files


def write_json(path: Path, obj):
    """Indented JSON with arrays of numbers kept on one line (reference vectors stay readable)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    text = re.sub(r"\[\s+([-0-9.eE,\s]+?)\s+\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    path.write_text(text + "\n")


def gpt2_config(m):
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": m["vocab_size"],
        "n_positions": m["n_positions"],
        "n_ctx": m["n_positions"],
        "n_embd": m["n_embd"],
        "n_layer": m["n_layer"],
        "n_head": m["n_head"],
        "n_inner": None,
        "activation_function": "gelu_new",
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "layer_norm_epsilon": m["layer_norm_epsilon"],
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
        "bos_token_id": EOT_ID,
        "eos_token_id": EOT_ID,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def llama_config(m):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": m["vocab_size"],
        "hidden_size": m["hidden_size"],
        "intermediate_size": m["intermediate_size"],
        "num_hidden_layers": m["num_hidden_layers"],
        "num_attention_heads": m["num_attention_heads"],
        "num_key_value_heads": m["num_key_value_heads"],
        "head_dim": m["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": m["max_position_embeddings"],
        "rms_norm_eps": m["rms_norm_eps"],
        "rope_theta": m["rope_theta"],
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": EOT_ID,
        "eos_token_id": EOT_ID,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def write_common(out: Path, config: dict, context: int):
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config)
    write_json(out / "generation_config.json",
               {"bos_token_id": EOT_ID, "eos_token_id": EOT_ID, "pad_token_id": EOT_ID, "do_sample": False})
    write_tokenizer_files(out, context)


def export_gpt2(model: GPT2, out: Path, _corpus_dir=None):
    m = model.cfg
    write_common(out, gpt2_config(m), m["n_positions"])
    size = export_onnx(model, m["n_layer"], m["n_head"], m["n_embd"] // m["n_head"], out / "onnx" / "model.onnx")
    print(f"export: {out / 'onnx/model.onnx'} ({size / 1e6:.2f} MB, opset {OPSET})", flush=True)
    size = export_decode_onnx(model, out / "onnx" / "model_decode.onnx")
    print(f"export: {out / 'onnx/model_decode.onnx'} ({size / 1e6:.2f} MB, decode step over an in-place cache)", flush=True)


def reference_gpt2(model, out: Path):
    write_json(out / "reference.json", compute_reference(model, out.name))
    print(f"reference: {out / 'reference.json'}", flush=True)


@torch.no_grad()
def sample(model, prompt, new_tokens, temperature, seed):
    """Temperature sampling with the KV cache; stops at <|endoftext|>."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.tensor([list(prompt.encode("utf-8"))])
    mask = torch.ones_like(ids)
    pos = positions(mask)
    logits, past = model(ids, mask, pos)
    out = []
    for _ in range(new_tokens):
        probs = torch.softmax(logits[0, -1] / temperature, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=g).item()
        if nxt == EOT_ID or len(out) + ids.shape[1] >= model.cfg["n_positions"]:
            break
        out.append(nxt)
        mask = torch.cat([mask, torch.ones(1, 1, dtype=mask.dtype)], dim=-1)
        pos = pos[:, -1:] + 1
        logits, past = model(torch.tensor([[nxt]]), mask, pos, past)
    return prompt + bytes(out).decode("utf-8", errors="replace")


def corpus_words(corpus_dir: Path):
    data = np.fromfile(corpus_dir / "train.bin", dtype=np.uint16)
    text = bytes(data[data < 256].astype(np.uint8)).decode("utf-8", errors="ignore")
    return set(w.lower() for w in re.findall(r"[A-Za-z]+", text))


def write_card(model, out: Path, corpus_dir: Path, log_path: Path):
    lines = [json.loads(l) for l in log_path.read_text().splitlines()]
    prompts = ["And it came to pass", "A hacker", "The LORD is"]
    samples = [sample(model, p, 240, 0.8, seed=i) for i, p in enumerate(prompts)]
    vocab = corpus_words(corpus_dir)
    words = [w.lower() for s in samples for w in re.findall(r"[A-Za-z]+", s)]
    known = sum(w in vocab for w in words) / max(1, len(words))
    size = (out / "onnx" / "model.onnx").stat().st_size
    (out / "README.md").write_text(render_card(lines, samples, known, size, OPSET))
    print(f"card: {out / 'README.md'} ({known:.0%} of sample words occur in the corpus)", flush=True)


def well_separated_llama(cfg, first_seed, tries=50):
    """The first seed from first_seed whose greedy references have no near-ties or EOS (random
    weights give near-ties now and then, which would make exact-token tests flaky)."""
    for seed in range(first_seed, first_seed + tries):
        torch.manual_seed(seed)
        model = Llama(cfg)
        model.init_random(seed)
        model.eval()
        try:
            return seed, model, compute_reference(model, "tinyllama")
        except ValueError as err:
            print(f"seed {seed} rejected: {err}", flush=True)
    raise RuntimeError(f"no well-separated tinyllama among seeds {first_seed}..{first_seed + tries - 1}")


def build_llama(spec, out: Path):
    cfg = spec["model"]
    seed, model, reference = well_separated_llama(cfg, spec["seed"])
    write_common(out, llama_config(cfg), cfg["max_position_embeddings"])
    size = export_onnx(model, cfg["num_hidden_layers"], cfg["num_key_value_heads"], cfg["head_dim"],
                       out / "onnx" / "model.onnx")
    write_json(out / "reference.json", reference)
    (out / "README.md").write_text(
        "# tinyllama (test fixture)\n\n"
        "Random, seeded weights in the Llama architecture (RMSNorm, rotary positions, SwiGLU, "
        "grouped-query attention) exported in the Hugging Face Optimum layout. It produces no "
        "language: it exists to prove that the serving path handles Llama-family exports, whose "
        "past/present tensors have `num_key_value_heads` heads.\n\n"
        f"- parameters: {model.num_parameters():,}; ONNX: {size / 1e6:.2f} MB, opset {OPSET}\n"
        f"- layers {cfg['num_hidden_layers']}, hidden {cfg['hidden_size']}, heads "
        f"{cfg['num_attention_heads']} (key/value heads {cfg['num_key_value_heads']}, head dim "
        f"{cfg['head_dim']}), SwiGLU width {cfg['intermediate_size']}, context "
        f"{cfg['max_position_embeddings']}, RoPE theta {cfg['rope_theta']}\n"
        "- tokenizer: the same byte-level tokenizer as tinygpt (257 tokens)\n"
        f"- rebuilt by `npm run model:build` (weights from seed {seed}); `reference.json` from PyTorch\n"
    )
    print(f"tinyllama: {out} ({model.num_parameters():,} parameters, {size / 1e6:.2f} MB, seed {seed})", flush=True)


def build_bench(spec, out: Path):
    """Random-weight 26 M-parameter GPT-2 for performance work (not committed)."""
    torch.manual_seed(spec["seed"])
    model = GPT2(spec["model"]).eval()
    t0 = time.time()
    export_gpt2(model, out)
    print(f"bench-26m: {model.num_parameters():,} parameters in {time.time() - t0:.0f} s", flush=True)
    build_bench_lora(model, out)


def build_bench_lora(model, out: Path):
    """bench-26m's LoRA exports (weights as inputs, as tinygpt's), so bench:lora can measure what
    adapters cost on a model of real width; its adapters are random, written by the benchmark.
    From the model itself: its random-init biases and norms fold away in the ONNX file."""
    from decode_export import export_lora_decode_onnx
    from lora_export import export_lora_onnx

    t0 = time.time()
    for name, export in (("model_lora.onnx", export_lora_onnx), ("model_lora_decode.onnx", export_lora_decode_onnx)):
        size = export(model, out / "onnx" / name)
        print(f"bench-26m: {name} ({size} bytes)", flush=True)
    print(f"bench-26m: LoRA exports in {time.time() - t0:.0f} s", flush=True)
