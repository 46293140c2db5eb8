"""The `lora` build phase: recovers the tinygpt base from its committed ONNX export, checks it
against models/tinygpt/reference.json, trains each adapter in configs.LORA, measures base vs
adapter on held-out questions and writes the adapter directory (PEFT files, reference.json,
README.md, training_log.jsonl), then reloads the written safetensors and checks the reference."""
import json
import time
from pathlib import Path

import torch

from base_from_onnx import check_base, load_base
from instructions import build_pairs, chat_prompt
from lora import apply_lora, exact_match, greedy_answers, held_out_loss, load_adapter, save_adapter, train_adapter
from lora_card import render_adapter_card
from lora_reference import check_reference, compute_adapter_reference


def evaluate(model, held, train_probe, prefix):
    kinds = sorted({i["kind"] for i in held})
    return {
        "held_out_loss": round(held_out_loss(model, held), 4),
        "held_out_exact_match": round(exact_match(model, held, prefix), 4),
        "held_out_exact_match_by_kind": {k: round(exact_match(model, [i for i in held if i["kind"] == k], prefix), 4)
                                         for k in kinds},
        "held_out_count_by_kind": {k: sum(1 for i in held if i["kind"] == k) for k in kinds},
        "train_exact_match": round(exact_match(model, train_probe, prefix), 4),
    }


def build_adapter(spec, base_dir: Path, out: Path):
    from pipeline import write_json

    t0 = time.time()
    base = load_base(base_dir)
    worst = check_base(base, base_dir)
    print(f"lora {spec['name']}: recovered base reproduces {base_dir / 'reference.json'} (max logit diff {worst:.1e})",
          flush=True)
    train, held = build_pairs(spec["style"], spec["seed"], spec["holdout"], spec["pool"])
    g = torch.Generator().manual_seed(spec["seed"])
    # Stratified by kind, so the rarer kinds (names, books) are measured too.
    held_eval = []
    for kind in sorted({i["kind"] for i in held}):
        of_kind = [i for i in held if i["kind"] == kind]
        held_eval += [of_kind[j] for j in torch.randperm(len(of_kind), generator=g)[: spec["eval_items"] // 2].tolist()]
    probe = [train[i] for i in torch.randperm(len(train), generator=g)[: spec["eval_items"]].tolist()]
    prefix = spec["match_prefix_bytes"]
    base_metrics = evaluate(base, held_eval, probe, prefix)
    print(f"lora {spec['name']}: base {json.dumps(base_metrics)}", flush=True)
    base_answers = greedy_answers(base, spec["examples"], 160)

    torch.manual_seed(spec["seed"])
    model = apply_lora(base, spec["targets"], spec["r"], spec["alpha"])
    log = []
    seconds = train_adapter(model, train, spec, log)
    metrics = evaluate(model, held_eval, probe, prefix)
    print(f"lora {spec['name']}: adapter {json.dumps(metrics)}", flush=True)
    answers = greedy_answers(model, spec["examples"], 160)

    save_adapter(model, out, spec["targets"], spec["r"], spec["alpha"])
    reference = compute_adapter_reference(model, spec["name"], spec["reference_prompts"])
    write_json(out / "reference.json", reference)
    with (out / "training_log.jsonl").open("w") as f:
        for entry in log:
            f.write(json.dumps(entry) + "\n")
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    seen, unseen = {i["question"] for i in train}, {i["question"] for i in held}
    where = lambda q: "training question" if q in seen else "held-out question" if q in unseen else "not in the data"
    examples = [(q, where(q), b.decode("utf-8", "replace"), a.decode("utf-8", "replace"))
                for q, b, a in zip(spec["examples"], base_answers, answers)]
    stats = {"train_pairs": len(train), "held_out_pairs": len(held), "eval_items": len(held_eval),
             "train_seconds": round(seconds), "lora_parameters": n_params,
             "file_bytes": (out / "adapter_model.safetensors").stat().st_size, "torch": torch.__version__,
             "kinds_train": {k: sum(1 for i in train if i["kind"] == k) for k in sorted({i["kind"] for i in train})}}
    (out / "README.md").write_text(render_adapter_card(spec, stats, base_metrics, metrics, examples, chat_prompt("…")))

    # The written files, not the in-memory module, must reproduce the reference.
    worst = check_reference(load_adapter(load_base(base_dir), out), reference)
    print(f"lora {spec['name']}: {out} reloaded from safetensors reproduces reference.json "
          f"(max logit diff {worst:.1e}); {time.time() - t0:.0f} s in all", flush=True)


def self_check(base_dir: Path, out: Path):
    """Reloads an adapter directory and checks its reference.json (no training)."""
    reference = json.loads((out / "reference.json").read_text())
    worst = check_reference(load_adapter(load_base(base_dir), out), reference)
    print(f"lora check: {out.name} reproduces reference.json (max logit diff {worst:.1e})", flush=True)
