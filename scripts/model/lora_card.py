"""Model card of a LoRA adapter. Every figure is measured by the build that wrote the adapter."""


def _pct(x):
    return f"{100 * x:.1f}%"


def _fence(text):
    return "```text\n" + (text if text.strip() else "(empty: <|endoftext|> at once)") + "\n```"


def render_adapter_card(spec, stats, base, adapter, examples, template):
    kinds = ", ".join(f"{k} {n:,}" for k, n in stats["kinds_train"].items())
    mix = ", ".join(f"{k} {w}" for k, w in spec["mix"].items())
    by_kind = "\n".join(
        f"| held-out exact-match, {k} ({adapter['held_out_count_by_kind'][k]}) | {_pct(base['held_out_exact_match_by_kind'][k])} | "
        f"{_pct(adapter['held_out_exact_match_by_kind'][k])} |"
        for k in adapter["held_out_exact_match_by_kind"]
    )
    shown = "\n\n".join(
        f"**{q}** ({where})\n\nbase:\n{_fence(b)}\n{spec['name']}:\n{_fence(a)}" for q, where, b, a in examples
    )
    p = spec["match_prefix_bytes"]
    return f"""---
license: apache-2.0
language: en
library_name: peft
base_model: tinygpt
pipeline_tag: text-generation
tags: [lora, peft, gpt2, byte-level, tokenmesh, test-fixture]
---

# {spec['name']}

A LoRA adapter (Hugging Face PEFT layout) for [tinygpt](../tinygpt), trained on this machine by
`npm run model:build -- lora` (scripts/model/lora_build.py). {spec['description']}

## Intended use and limitations
- **Intended use**: tests and demos of serving several adapters over one base model in one batch.
- **Not for**: anything where the content matters. The base is a 1.36 M-parameter byte-level model
  (1.49 nats/byte); the adapter teaches it the answer format, and it recalls training answers only
  partly. On held-out questions it answers in the right form with mostly wrong content, and it
  invents verses and definitions with confidence.
- Questions only about the King James Bible and the Jargon File, in English, single turn.

## Results (measured at build time, greedy decoding)
{stats['eval_items']} held-out questions (keys never seen in training: a seeded
{_pct(spec['holdout'])} of verses, headwords, names and books, with all their phrasings; up to
{spec['eval_items'] // 2} per kind) and {spec['eval_items']} training questions. Loss: mean nats per answer byte (the final
`<|endoftext|>` included), prompt bytes not scored. Exact-match: the greedy answer starts with
the expected answer's first {p} bytes (shorter answers: equals it and then ends).

| metric | base tinygpt | {spec['name']} |
|---|---|---|
| held-out answer loss (nats/byte) | {base['held_out_loss']:.3f} | {adapter['held_out_loss']:.3f} |
| held-out exact-match | {_pct(base['held_out_exact_match'])} | {_pct(adapter['held_out_exact_match'])} |
{by_kind}
| training-question exact-match | {_pct(base['train_exact_match'])} | {_pct(adapter['train_exact_match'])} |

## Examples (greedy, up to 160 bytes)
{shown}

## Training data
Instruction pairs built from the pipeline's own corpus (scripts/model/instructions.py): Bible
verses (Debian `bible-kjv`) and Jargon File entries (Debian `jargon-text`), both public domain.
{stats['train_pairs']:,} training pairs ({kinds}), {stats['held_out_pairs']:,} held out.
Each example is rendered in tinygpt's chat template with the answer followed by `<|endoftext|>`;
{_pct(spec['system_share'])} of training examples carry a system message first:

```text
{template}
```

## Hyperparameters
LoRA r {spec['r']}, alpha {spec['alpha']} (scale {spec['alpha'] / spec['r']:g}), no dropout, no bias, on
{', '.join(spec['targets'])} of every block (PEFT `target_modules`
`["c_attn", "c_fc", "c_proj"]` on transformers' GPT-2: attn.c_attn, attn.c_proj, mlp.c_fc,
mlp.c_proj); {stats['lora_parameters']:,} trainable parameters, base frozen. AdamW (no weight decay),
peak learning rate {spec['lr']}, {spec['warmup_steps']} warm-up steps then cosine decay to 10%,
gradient clipping 1.0, {spec['steps']:,} steps of {spec['batch_size']} examples sampled by kind
({mix}), seed {spec['seed']}. {stats['train_seconds']} s on CPU, 1 thread, PyTorch {stats['torch']}.

## Files
- `adapter_config.json`, `adapter_model.safetensors` ({stats['file_bytes'] / 1024:.0f} KB, F32): PEFT layout,
  keys `base_model.model.transformer.h.{{i}}.{{attn.c_attn|attn.c_proj|mlp.c_fc|mlp.c_proj}}.lora_{{A|B}}.weight`,
  A `[r, in]`, B `[out, r]`; output += x·Aᵀ·Bᵀ·alpha/r. `fan_in_fan_out: true` as PEFT sets it
  for GPT-2's Conv1D (it affects merging into the [in, out] Conv1D weight only).
- `reference.json`: PyTorch reference vectors with the adapter applied (first-step top-10 logits,
  greedy ids up to `<|endoftext|>`), checked again after reloading the written safetensors.
- `training_log.jsonl`: training loss every {spec['log_every']} steps.
"""
