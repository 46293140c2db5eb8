"""Reference vectors computed by PyTorch: first-step top-10 logits and greedy tokens with the KV
cache, for single prompts and a left-padded batch. The JS tests hold onnxruntime to them."""
import torch

from tokenizer_files import EOT_ID

PROMPTS = [
    ["In the beginning God created"],
    ["A hacker is a person who"],
    ["And the LORD said unto Moses,", "The Jargon File"],  # left-padded batch of 2
]
TOP_K = 10
NEW_TOKENS = 32
# Greedy steps whose top-2 logits are closer than this could flip between runtimes.
MIN_MARGIN = 1e-3


def left_pad(prompts):
    rows = [list(p.encode("utf-8")) for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[EOT_ID] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def positions(mask):
    """Hugging Face's convention: cumulative count of real tokens; padding gets position 1."""
    pos = mask.cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)


@torch.no_grad()
def greedy(model, ids, mask, steps, use_cache=True):
    """Returns (first-step logits [b, vocab], generated ids [b, steps], smallest top-2 margin)."""
    pos = positions(mask)
    logits, past = model(ids, mask, pos)
    first = logits[:, -1, :].clone()
    out, margin = [], float("inf")
    all_ids = ids
    for _ in range(steps):
        last = logits[:, -1, :]
        top2 = last.topk(2, dim=-1).values
        margin = min(margin, (top2[:, 0] - top2[:, 1]).min().item())
        nxt = last.argmax(-1, keepdim=True)
        out.append(nxt)
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=-1)
        all_ids = torch.cat([all_ids, nxt], dim=-1)
        if use_cache:
            logits, past = model(nxt, mask, pos[:, -1:] + 1, past)
            pos = torch.cat([pos, pos[:, -1:] + 1], dim=-1)
        else:
            pos = positions(mask)
            logits, _ = model(all_ids, mask, pos)
    return first, torch.cat(out, dim=-1), margin


def first_step_fields(ids, mask, first):
    """A reference case's inputs and first-step top-k logits, as every reference.json spells them."""
    top = first.topk(TOP_K, dim=-1)
    return {
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "position_ids": positions(mask).tolist(),
        "first_step_top_ids": top.indices.tolist(),
        "first_step_top_logits": [[round(v, 6) for v in row] for row in top.values.tolist()],
    }


def compare_reference(want, got, label, key, tol):
    """Raises unless `got` (recomputed) reproduces `want` (a reference.json): greedy ids and top-k
    ids exactly, first-step logits within `tol`; cases are named by their `key` field. Returns the
    largest logit difference."""
    worst = 0.0
    for w, g in zip(want["cases"], got["cases"]):
        if w["greedy_ids"] != g["greedy_ids"] or w["first_step_top_ids"] != g["first_step_top_ids"]:
            raise ValueError(f"{label} differs from reference.json for {w[key]}")
        for a, b in zip(w["first_step_top_logits"], g["first_step_top_logits"]):
            worst = max(worst, max(abs(x - y) for x, y in zip(a, b)))
    if worst > tol:
        raise ValueError(f"{label}: first-step logits differ by {worst:.2e} from reference.json")
    return worst


def compute_reference(model, name):
    cases = []
    for prompts in PROMPTS:
        ids, mask = left_pad(prompts)
        first, gen, margin = greedy(model, ids, mask, NEW_TOKENS)
        _, gen_full, _ = greedy(model, ids, mask, NEW_TOKENS, use_cache=False)
        if not torch.equal(gen, gen_full):
            raise RuntimeError(f"{name}: KV-cache decoding differs from full recompute for {prompts}")
        if margin < MIN_MARGIN:
            raise ValueError(f"{name}: greedy top-2 margin {margin:.2e} for {prompts}: pick another prompt")
        if (gen == EOT_ID).any():
            raise ValueError(f"{name}: greedy output reaches <|endoftext|> for {prompts}: pick another prompt")
        cases.append({
            "prompts": prompts,
            **first_step_fields(ids, mask, first),
            "greedy_ids": gen.tolist(),
            "greedy_text": [bytes(row).decode("utf-8", errors="replace") for row in gen.tolist()],
            "min_greedy_margin": round(margin, 6),
        })
    return {
        "model": name,
        "generated_by": f"scripts/model/reference.py, PyTorch {torch.__version__}",
        "top_k": TOP_K,
        "new_tokens": NEW_TOKENS,
        "eos_token_id": EOT_ID,
        "padding": "left, pad id = eos, position ids = cumsum(attention_mask) - 1 (padding: 1)",
        "cases": cases,
    }
