"""The tinygpt model card. Every figure comes from the committed training log
(models/tinygpt/training_log.jsonl) or is measured at build time and says so."""


def render_card(log, samples, known_word_share, onnx_bytes, opset):
    start = next(l for l in log if l["event"] == "start")
    evals = [l for l in log if l["event"] == "eval"]
    final = evals[-1]
    m, t, c = start["model"], start["train"], start["corpus"]
    curve = "\n".join(
        f"| {e['step']} | {e['tokens']:,} | {e['elapsed_s'] / 60:.1f} | {e['train_loss']:.3f} | "
        f"{e['val_nats_per_byte']:.3f} | {e['eval_block']} |"
        for e in evals
    )
    short = [e for e in evals if e["eval_block"] < final["eval_block"]]
    short_note = (
        f"\n- with {short[-1]['eval_block']}-byte windows, before the full-context phase (step {short[-1]['step']:,}): "
        f"{short[-1]['val_nats_per_byte']:.3f} nats/byte. Positions beyond {short[-1]['eval_block']} are trained only in "
        f"the last {t['long_steps']} steps, at a low learning rate, which is why the full-window loss is higher: prompts "
        f"plus completions that stay within {short[-1]['eval_block']} bytes get the better model."
        if short
        else ""
    )
    sample_text = "\n\n".join(f"```text\n{s}\n```" for s in samples)
    return f"""---
license: apache-2.0
language: en
library_name: transformers.js
pipeline_tag: text-generation
tags: [gpt2, onnx, byte-level, tokenmesh, test-fixture]
---

# tinygpt

A {start['parameters'] / 1e6:.2f} M-parameter GPT-2-architecture language model over bytes, trained on
this machine by `npm run model:build` (scripts/model). It is tokenmesh's default model: small
enough to commit and to run in every test, real enough that its output is English-shaped.

## Intended use and limitations
- **Intended use**: tests, demos and benchmarks of the tokenmesh serving mesh; a stand-in with the
  exact file layout of a Hugging Face Optimum export (`text-generation-with-past`).
- **Not for**: anything where the content of the text matters. It knows only the King James Bible
  and the Jargon File, writes plausible-looking but meaningless text, has no instruction tuning
  (the chat template is a format, not a skill), and repeats itself under greedy decoding.
- Context is {m['n_positions']} bytes. It reproduces the style and biases of a 17th-century
  religious text and a 1990s hacker glossary.

## Data
| source | Debian package | documents | licence |
|---|---|---|---|
| King James Version of the Bible (one document per chapter) | `bible-kjv` | {c['documents_by_source']['bible-kjv']} | public domain (copyright expired) |
| The Jargon File 4.4.x (one document per entry or chapter) | `jargon-text` | {c['documents_by_source']['jargon-text']} | public domain |

Hard-wrapped lines are joined into paragraphs, tables are dropped, no-break spaces become spaces.
A seeded {c['holdout_fraction']:.0%} of documents ({c['validation_documents']}) is held out:
{c['train_tokens']:,} training tokens, {c['validation_tokens']:,} held-out tokens (a token is a byte;
each document ends with `<|endoftext|>`).

## Architecture
GPT-2: pre-LayerNorm blocks, learned absolute positions, tied input/output embeddings, `gelu_new`.

| layers | d_model | heads | context | vocabulary | parameters | ONNX size |
|---|---|---|---|---|---|---|
| {m['n_layer']} | {m['n_embd']} | {m['n_head']} | {m['n_positions']} | {m['vocab_size']} (256 bytes + `<|endoftext|>`) | {start['parameters']:,} | {onnx_bytes / 1e6:.2f} MB (fp32, opset {opset}) |

Tokenizer: byte-level BPE with no merges (token id = byte value), ByteLevel pre-tokenizer and
decoder, `<|endoftext|>` = 256 as BOS/EOS/pad. Chat template: role-tagged lines
(`<|user|>` newline content newline … `<|assistant|>`).

## Training
AdamW (β 0.9/0.95, weight decay {t['weight_decay']}), peak learning rate {t['lr']}, {t['warmup_steps']}
warm-up steps then cosine decay to 10%, gradient clipping 1.0, seed {t['seed']}, batch
{t['batch_size']} × {t['block_size']} bytes, the last {t['long_steps']} steps at the full {m['n_positions']}-byte context.
PyTorch {start['torch']} on CPU, {start['torch_threads']} thread.

- steps: {final['step']:,}; tokens seen: {final['tokens']:,}
- training time: {final['elapsed_s'] / 60:.1f} minutes ({final['tokens_per_s']:,} tokens/s)
- **held-out loss: {final['val_nats_per_byte']:.3f} nats/byte** (evaluated with {final['eval_block']}-byte windows){short_note}

| step | tokens | minutes | train loss | held-out nats/byte | window |
|---|---|---|---|---|---|
{curve}

## Samples (temperature 0.8, seeds 0–2, up to 240 new bytes)
{sample_text}

{known_word_share:.0%} of the words in these samples occur in the training corpus.

## Files
`config.json`, `generation_config.json`, `tokenizer.json`, `tokenizer_config.json`,
`special_tokens_map.json`, `onnx/model.onnx` (inputs `input_ids`, `attention_mask`, `position_ids`,
`past_key_values.{{i}}.key/.value`; outputs `logits`, `present.{{i}}.key/.value`),
`reference.json` (PyTorch reference vectors checked by the tests), `training_log.jsonl`.
`onnx/model_lora.onnx` where `npm run model:build -- lora-export` wrote one (tinygpt): the same graph with LoRA
weights as inputs, so one pass serves rows of different adapters: `adapter_index` [batch] (slot 0 = none) and per
linear of every block `lora_A.transformer.h.{{i}}.<module>` [slots, rank, in] and `lora_B.…` [slots, rank, out]
(scaling folded into B; slots and rank dynamic).
`onnx/model_decode.onnx` (and `onnx/model_lora_decode.onnx` beside the LoRA export; `npm run model:build --
decode-export`): one decode step over a KV buffer the caller owns (inputs `input_ids`, `position_ids` [batch, 1],
`past_key_values.{{i}}.key/.value` [batch, heads, capacity, dim], each row's positions from column 0 and masked
from its position on; outputs `logits` and `new_key_values.{{i}}.key/.value` [batch, heads, 1, dim]), read in place.
"""
