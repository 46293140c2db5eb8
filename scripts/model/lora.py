"""LoRA adapters for the GPT-2 base, trained on instruction pairs and written in the Hugging Face
PEFT layout (adapter_config.json + adapter_model.safetensors).

Naming follows PEFT on transformers' GPT2LMHeadModel: our h.i.c_attn / c_proj / c_fc / mlp_proj
are transformer.h.i.attn.c_attn / attn.c_proj / mlp.c_fc / mlp.c_proj there; lora_A is [r, in],
lora_B is [out, r], and the update is x A^T B^T * lora_alpha / r (GPT-2's Conv1D stores weights
[in, out], hence fan_in_fan_out true, which changes merging only, not A and B).
"""
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from instructions import chat_prompt
from safetensors_io import read_safetensors, write_safetensors
from tokenizer_files import EOT_ID

HF_NAMES = {"c_attn": "attn.c_attn", "c_proj": "attn.c_proj", "c_fc": "mlp.c_fc", "mlp_proj": "mlp.c_proj"}
# PEFT matches target_modules by name suffix: "c_proj" covers attn.c_proj and mlp.c_proj.
PEFT_TARGETS = {"c_attn": "c_attn", "c_proj": "c_proj", "c_fc": "c_fc", "mlp_proj": "c_proj"}


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base, self.r, self.scaling = base, r, alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's default init

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scaling


def apply_lora(model, targets, r, alpha):
    """Wraps the target linears of every block in place; freezes the base."""
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.h:
        for t in targets:
            setattr(block, t, LoRALinear(getattr(block, t), r, alpha))
    return model


def lora_modules(model):
    for i, block in enumerate(model.h):
        for t, hf in HF_NAMES.items():
            m = getattr(block, t)
            if isinstance(m, LoRALinear):
                yield f"base_model.model.transformer.h.{i}.{hf}", m


def adapter_tensors(model):
    out = {}
    for prefix, m in lora_modules(model):
        out[f"{prefix}.lora_A.weight"] = m.lora_A.detach().numpy()
        out[f"{prefix}.lora_B.weight"] = m.lora_B.detach().numpy()
    return out


def adapter_config(targets, r, alpha):
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "tinygpt",
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": sorted({PEFT_TARGETS[t] for t in targets}),
        "fan_in_fan_out": True,
        "bias": "none",
        "modules_to_save": None,
        "init_lora_weights": True,
        "inference_mode": True,
        "use_rslora": False,
        "revision": None,
    }


def save_adapter(model, out: Path, targets, r, alpha):
    out.mkdir(parents=True, exist_ok=True)
    (out / "adapter_config.json").write_text(json.dumps(adapter_config(targets, r, alpha), indent=2) + "\n")
    write_safetensors(out / "adapter_model.safetensors", adapter_tensors(model), {"format": "pt"})


def load_adapter(base, adapter_dir: Path):
    """Applies a PEFT adapter directory written by save_adapter (or by PEFT for this base)."""
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    tensors = read_safetensors(adapter_dir / "adapter_model.safetensors")
    present = {t for t, hf in HF_NAMES.items() if any(f".{hf}.lora_A" in k for k in tensors)}
    model = apply_lora(base, sorted(present), cfg["r"], cfg["lora_alpha"])
    used = set()
    for prefix, m in lora_modules(model):
        for part, param in (("lora_A", m.lora_A), ("lora_B", m.lora_B)):
            key = f"{prefix}.{part}.weight"
            if key not in tensors or tuple(tensors[key].shape) != tuple(param.shape):
                raise ValueError(f"{adapter_dir}: tensor {key} missing or not shaped {tuple(param.shape)}")
            param.data.copy_(torch.from_numpy(tensors[key]))
            used.add(key)
    if set(tensors) - used:
        raise ValueError(f"{adapter_dir}: unexpected tensors {sorted(set(tensors) - used)[:3]}")
    return model.eval()


def encode_pair(item, system):
    prompt = list(chat_prompt(item["question"], system).encode("utf-8"))
    answer = list(item["answer"].encode("utf-8")) + [EOT_ID]
    return prompt, answer


def batch_tensors(pairs):
    """Right-padded ids, targets (-100 outside the answer) and position ids."""
    width = max(len(p) + len(a) for p, a in pairs)
    ids = torch.full((len(pairs), width), EOT_ID, dtype=torch.long)
    tgt = torch.full((len(pairs), width), -100, dtype=torch.long)
    for row, (p, a) in enumerate(pairs):
        seq = p + a
        ids[row, : len(seq)] = torch.tensor(seq)
        # Position t predicts token t+1: the targets are the answer bytes and the final EOT.
        tgt[row, len(p) - 1 : len(seq) - 1] = torch.tensor(a)
    return ids, tgt, torch.arange(width).expand_as(ids)


def answer_loss(model, pairs, reduction="mean"):
    ids, tgt, pos = batch_tensors(pairs)
    logits, _ = model(ids, torch.ones_like(ids), pos)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100,
                           reduction=reduction), int((tgt != -100).sum())


def sample_mix(train, weights, rng):
    kinds = {}
    for item in train:
        kinds.setdefault(item["kind"], []).append(item)
    names = [k for k in weights if k in kinds]
    w = [weights[k] for k in names]
    while True:
        yield rng.choice(kinds[rng.choices(names, w)[0]])


def bucketed(stream, rng, cfg, batches=8):
    """Draws batches * batch_size examples, groups them by length and shuffles the batches, so
    little compute goes to padding."""
    n = cfg["batch_size"]
    pairs = sorted((encode_pair(next(stream), rng.random() < cfg["system_share"]) for _ in range(n * batches)),
                   key=lambda pa: len(pa[0]) + len(pa[1]))
    out = [pairs[i : i + n] for i in range(0, len(pairs), n)]
    rng.shuffle(out)
    return out


def train_adapter(model, train, cfg, log):
    """Seeded AdamW on the LoRA parameters only; cosine schedule; answer-token loss."""
    torch.manual_seed(cfg["seed"])
    rng = random.Random(cfg["seed"])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=0.0)
    stream = sample_mix(train, cfg["mix"], rng)
    model.train()
    t0, recent, tokens, queue = time.time(), [], 0, []
    for step in range(cfg["steps"]):
        warm = cfg["warmup_steps"]
        lr = cfg["lr"] * ((step + 1) / warm if step < warm else
                          0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, cfg["steps"] - warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        if not queue:
            queue = bucketed(stream, rng, cfg)
        pairs = queue.pop()
        loss, n = answer_loss(model, pairs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        recent.append(loss.item())
        tokens += n
        if (step + 1) % cfg["log_every"] == 0 or step + 1 == cfg["steps"]:
            entry = {"step": step + 1, "elapsed_s": round(time.time() - t0, 1), "lr": round(lr, 6),
                     "answer_tokens": tokens, "train_loss": round(sum(recent) / len(recent), 4)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
            recent = []
    model.eval()
    return time.time() - t0


@torch.no_grad()
def held_out_loss(model, items, batch=32):
    total, count = 0.0, 0
    for i in range(0, len(items), batch):
        loss, n = answer_loss(model, [encode_pair(it, False) for it in items[i : i + batch]], reduction="sum")
        total, count = total + loss.item(), count + n
    return total / count


@torch.no_grad()
def greedy_answers(model, questions, max_new, batch=64):
    """Greedy, left-padded, KV-cached; each answer stops at <|endoftext|>. Returns bytes."""
    from reference import left_pad, positions

    out = []
    for i in range(0, len(questions), batch):
        ids, mask = left_pad([chat_prompt(q) for q in questions[i : i + batch]])
        pos = positions(mask)
        logits, past = model(ids, mask, pos)
        rows = [[] for _ in range(ids.shape[0])]
        done = [False] * ids.shape[0]
        for _ in range(max_new):
            nxt = logits[:, -1, :].argmax(-1, keepdim=True)
            for r, t in enumerate(nxt[:, 0].tolist()):
                if not done[r]:
                    done[r] = t == EOT_ID
                    if not done[r]:
                        rows[r].append(t)
            if all(done):
                break
            mask = torch.cat([mask, torch.ones_like(nxt)], dim=-1)
            pos = pos[:, -1:] + 1
            logits, past = model(nxt, mask, pos, past)
        out += [bytes(r) for r in rows]
    return out


def exact_match(model, items, prefix_bytes):
    """Share of items whose greedy answer starts with the expected answer's first prefix_bytes
    bytes (the whole answer, and then the end of text, when it is shorter)."""
    got = greedy_answers(model, [it["question"] for it in items], prefix_bytes + 1)
    hits = 0
    for it, g in zip(items, got):
        want = it["answer"].encode("utf-8")
        hits += g[:prefix_bytes] == want[:prefix_bytes] if len(want) > prefix_bytes else g == want
    return hits / max(1, len(items))
