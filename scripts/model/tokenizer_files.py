"""Byte-level tokenizer files in the Hugging Face layout: one token per byte, no merges.

Token id = byte value (0..255), written with GPT-2's byte-to-unicode alphabet so the standard
ByteLevel pre-tokenizer and decoder apply; <|endoftext|> = 256 is the only special token.
"""
import json
from pathlib import Path

EOT = "<|endoftext|>"
EOT_ID = 256
VOCAB_SIZE = 257

# Role-tagged and easy to read in raw text; every turn ends with a newline so the model's
# byte-level training on prose carries over.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_json():
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    vocab[EOT] = EOT_ID
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": EOT_ID,
                "content": EOT,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "post_processor": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": False,
            "use_regex": True,
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }


def write_tokenizer_files(out: Path, model_max_length: int):
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False, indent=2) + "\n")
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "GPT2Tokenizer",
                "add_bos_token": False,
                "add_prefix_space": False,
                "bos_token": EOT,
                "eos_token": EOT,
                "unk_token": EOT,
                "pad_token": EOT,
                "model_max_length": model_max_length,
                "clean_up_tokenization_spaces": False,
                "chat_template": CHAT_TEMPLATE,
                "added_tokens_decoder": {
                    str(EOT_ID): {
                        "content": EOT,
                        "lstrip": False,
                        "normalized": False,
                        "rstrip": False,
                        "single_word": False,
                        "special": True,
                    }
                },
            },
            indent=2,
        )
        + "\n"
    )
    (out / "special_tokens_map.json").write_text(
        json.dumps(
            {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT, "pad_token": EOT}, indent=2
        )
        + "\n"
    )
