"""Reference vectors for an adapter: chat-template prompts, first-step top-k logits and greedy
ids with the KV cache, each row ending at (and including) <|endoftext|>, as a worker serving the
adapter must produce them. Every row is re-checked by one full forward pass without padding."""
import torch

from instructions import chat_prompt
from reference import TOP_K, compare_reference, first_step_fields, left_pad, positions
from tokenizer_files import EOT_ID

MAX_NEW = 48
MIN_MARGIN = 1e-3


@torch.no_grad()
def greedy_rows(model, ids, mask, steps):
    pos = positions(mask)
    logits, past = model(ids, mask, pos)
    first = logits[:, -1, :].clone()
    rows = [[] for _ in range(ids.shape[0])]
    margins = [float("inf")] * ids.shape[0]
    for _ in range(steps):
        last = logits[:, -1, :]
        top2 = last.topk(2, dim=-1).values
        nxt = last.argmax(-1, keepdim=True)
        for r in range(ids.shape[0]):
            if not rows[r] or rows[r][-1] != EOT_ID:
                margins[r] = min(margins[r], (top2[r, 0] - top2[r, 1]).item())
                rows[r].append(nxt[r, 0].item())
        if all(r[-1] == EOT_ID for r in rows):
            break
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=-1)
        pos = pos[:, -1:] + 1
        logits, past = model(nxt, mask, pos, past)
    return first, rows, margins


@torch.no_grad()
def full_recompute_agrees(model, prompt_ids, row):
    seq = torch.tensor([prompt_ids + row[:-1]])
    logits, _ = model(seq, torch.ones_like(seq), torch.arange(seq.shape[1]).unsqueeze(0))
    return logits[0, len(prompt_ids) - 1 :].argmax(-1).tolist() == row


def compute_adapter_reference(model, name, prompt_sets):
    cases = []
    for questions in prompt_sets:
        prompts = [chat_prompt(q) for q in questions]
        ids, mask = left_pad(prompts)
        first, rows, margins = greedy_rows(model, ids, mask, MAX_NEW)
        for p, row in zip(prompts, rows):
            if not full_recompute_agrees(model, list(p.encode("utf-8")), row):
                raise RuntimeError(f"{name}: KV-cache decoding differs from full recompute for {p!r}")
        if min(margins) < MIN_MARGIN:
            raise ValueError(f"{name}: greedy top-2 margin {min(margins):.2e} for {questions}: pick another prompt")
        cases.append({
            "questions": questions,
            "prompts": prompts,
            **first_step_fields(ids, mask, first),
            "greedy_ids": rows,
            "greedy_text": [bytes(t for t in r if t != EOT_ID).decode("utf-8", errors="replace") for r in rows],
            "finish_reason": ["stop" if r[-1] == EOT_ID else "length" for r in rows],
            "min_greedy_margin": round(min(margins), 6),
        })
    return {
        "model": name,
        "base_model": "tinygpt",
        "generated_by": f"scripts/model/lora_reference.py, PyTorch {torch.__version__}, adapter applied unmerged",
        "top_k": TOP_K,
        "max_new_tokens": MAX_NEW,
        "eos_token_id": EOT_ID,
        "greedy": "argmax with the KV cache; each row's greedy_ids end at the first eos (included) or after max_new_tokens",
        "padding": "left, pad id = eos, position ids = cumsum(attention_mask) - 1 (padding: 1)",
        "cases": cases,
    }


def check_reference(model, reference, tol=1e-5):
    got = compute_adapter_reference(model, reference["model"], [c["questions"] for c in reference["cases"]])
    return compare_reference(reference, got, f"{reference['model']}: reloaded adapter", "questions", tol)
