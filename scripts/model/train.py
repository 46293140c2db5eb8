"""Seeded, reproducible training of the GPT-2-architecture byte-level model.

Every eval_every steps the whole held-out split is scored (nats/byte), a line is appended to the
training log (JSON lines) and a checkpoint is written, so a long run can be exported at any time.
"""
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from gpt2 import GPT2


def lr_at(step, cfg):
    warm, total, peak = cfg["warmup_steps"], cfg["steps"], cfg["lr"]
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model, val, block):
    """Mean next-token loss over the held-out stream in non-overlapping windows, nats per token
    (a token is a byte; document separators are counted too)."""
    model.eval()
    total, count = 0.0, 0
    n = (val.size - 1) // block
    for start in range(0, n, 32):
        rows = range(start, min(n, start + 32))
        x = torch.stack([torch.from_numpy(val[r * block : r * block + block].astype(np.int64)) for r in rows])
        y = torch.stack([torch.from_numpy(val[r * block + 1 : r * block + block + 1].astype(np.int64)) for r in rows])
        logits, _ = model(x, torch.ones_like(x), torch.arange(block).expand_as(x))
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train()
    return total / count


def train(model_cfg, train_cfg, corpus_dir: Path, work_dir: Path, log_path: Path):
    """Trains from scratch; returns the model. The log's last line holds the final figures."""
    torch.manual_seed(train_cfg["seed"])
    rng = np.random.default_rng(train_cfg["seed"])
    train_ids = np.fromfile(corpus_dir / "train.bin", dtype=np.uint16)
    val_ids = np.fromfile(corpus_dir / "val.bin", dtype=np.uint16)
    model = GPT2(model_cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": train_cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=train_cfg["lr"],
        betas=(0.9, 0.95),
    )
    long_from = train_cfg["steps"] - train_cfg["long_steps"]
    work_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    header = {"event": "start", "model": model_cfg, "train": train_cfg, "parameters": model.num_parameters(),
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
              "corpus": json.loads((corpus_dir / "corpus.json").read_text())}
    log.write(json.dumps(header) + "\n")
    log.flush()
    t0, tokens, recent = time.time(), 0, []
    for step in range(train_cfg["steps"]):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, train_cfg)
        # The last long_steps train at the full context (same tokens per step) so that every
        # learned position is trained; the rest use shorter, cheaper windows.
        block, batch = train_cfg["block_size"], train_cfg["batch_size"]
        if step >= long_from:
            block, batch = model_cfg["n_positions"], batch * block // model_cfg["n_positions"]
        starts = rng.integers(0, train_ids.size - block - 1, size=batch)
        x = torch.from_numpy(np.stack([train_ids[s : s + block] for s in starts]).astype(np.int64))
        y = torch.from_numpy(np.stack([train_ids[s + 1 : s + block + 1] for s in starts]).astype(np.int64))
        logits, _ = model(x, torch.ones_like(x), torch.arange(block).expand_as(x))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tokens += x.numel()
        recent.append(loss.item())
        last = step + 1 == train_cfg["steps"]
        if (step + 1) % train_cfg["eval_every"] == 0 or last:
            val_loss = evaluate(model, val_ids, block)
            elapsed = time.time() - t0
            entry = {"event": "eval", "step": step + 1, "tokens": tokens, "elapsed_s": round(elapsed, 1),
                     "tokens_per_s": round(tokens / elapsed), "lr": lr_at(step, train_cfg),
                     "train_loss": round(sum(recent) / len(recent), 4), "val_nats_per_byte": round(val_loss, 4),
                     "eval_block": block}
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(json.dumps(entry), flush=True)
            recent = []
            torch.save({"model_cfg": model_cfg, "state_dict": model.state_dict(), "step": step + 1},
                       work_dir / "checkpoint.pt")
    log.close()
    return model
