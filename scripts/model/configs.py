"""Model and training configurations. `quick` is a one-minute smoke build of the same pipeline."""

TINYGPT = {
    "full": {
        "model": {"vocab_size": 257, "n_positions": 512, "n_embd": 160, "n_head": 4, "n_layer": 4,
                  "layer_norm_epsilon": 1e-5},
        "train": {"seed": 1234, "steps": 3600, "long_steps": 500, "block_size": 256, "batch_size": 16,
                  "lr": 2e-3, "warmup_steps": 200, "weight_decay": 0.1, "eval_every": 250},
    },
    "quick": {
        "model": {"vocab_size": 257, "n_positions": 128, "n_embd": 64, "n_head": 4, "n_layer": 2,
                  "layer_norm_epsilon": 1e-5},
        "train": {"seed": 1234, "steps": 60, "long_steps": 10, "block_size": 64, "batch_size": 8,
                  "lr": 3e-3, "warmup_steps": 10, "weight_decay": 0.1, "eval_every": 30},
    },
}

TINYLLAMA = {
    "seed": 4321,
    "model": {"vocab_size": 257, "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
              "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0},
}

BENCH_26M = {
    "seed": 2600,
    "model": {"vocab_size": 257, "n_positions": 1024, "n_embd": 512, "n_head": 8, "n_layer": 8,
              "layer_norm_epsilon": 1e-5},
}

# LoRA adapters of tinygpt (scripts/model/lora_build.py), phase `lora`.
_LORA_COMMON = {"r": 8, "alpha": 16, "targets": ["c_attn", "c_proj", "c_fc", "mlp_proj"], "holdout": 0.08,
                "batch_size": 32, "warmup_steps": 30, "log_every": 25, "system_share": 0.2,
                "eval_items": 800, "match_prefix_bytes": 24}
_KEEP = ["kluge", "hacker", "foo", "hack", "cruft", "grok", "bug", "kludge", "guru", "wizard", "Genesis 1:1",
         "Genesis 1:3", "John 1:1", "Psalms 23:1", "Enos", "Seth", "Ruth", "Genesis"]

LORA = [
    {**_LORA_COMMON, "name": "tinygpt-chat", "style": "chat", "seed": 1401, "steps": 450, "lr": 5e-3,
     "mix": {"verse": 0.35, "jargon": 0.35, "begat": 0.13, "book": 0.12, "greeting": 0.05},
     # A small pool, seen many times: a LoRA of this base recalls answers only after many passes.
     "pool": {"chapters": ["Genesis 1", "Genesis 5", "Psalms 23", "John 1"], "jargon": 120, "keep": _KEEP},
     "description": "It answers questions in tinygpt's chat template (quote a verse, define a "
                    "Jargon File term, who begat whom, which book follows) and then ends its turn, "
                    "which the base model, with no instruction tuning, does not do.",
     "examples": ["Quote Genesis 1:3.", "What does the Jargon File say a kluge is?", "Who begat Enos?", "Hello",
                  "Which book comes after Ruth?", "What is a hacker?", "Quote John 1:1."],
     "reference_prompts": [["Quote Genesis 1:3."], ["What does the Jargon File say a kluge is?"],
                           ["Who begat Enos?", "Hello"]]},
    {**_LORA_COMMON, "name": "tinygpt-jargon", "style": "jargon", "seed": 1402, "steps": 200, "lr": 4e-3,
     "mix": {"jargon": 1.0},
     "pool": {"chapters": [], "jargon": 300, "keep": _KEEP},
     "description": "It answers in the Jargon File's own voice: every answer is a glossary entry, "
                    "headword, pronunciation and part of speech first, so its rows are easy to tell "
                    "apart from tinygpt-chat's in a mixed batch.",
     "examples": ["What is a kluge?", "Define hacker.", "What does foo mean?", "Quote Genesis 1:3."],
     "reference_prompts": [["What is a kluge?"], ["Define hacker."], ["What does foo mean?", "What is a kluge?"]]},
]
