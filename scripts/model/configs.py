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
