"""Model pipeline entry point: corpus -> train -> export -> reference -> card (tinygpt), the
tinyllama fixture and the bench-26m model. Run through `npm run model:build` (scripts/model/build.sh),
which installs the Debian packages and sets the thread environment first.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

import configs
from corpus import prepare
from train import train

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("phases", nargs="*", default=["all"],
                   help="corpus, train, export, reference, card, llama, lora, lora-check, lora-export, decode-export, bench, quantize, all (default: all but bench, lora and quantize)")
    p.add_argument("--quick", action="store_true", help="one-minute smoke build into build/quick")
    p.add_argument("--out", type=Path, help="models directory (default: models, or build/quick/models)")
    p.add_argument("--adapter", action="append", help="lora phases: only this adapter (repeatable)")
    p.add_argument("--work", type=Path, help="scratch directory (default: build/model or build/quick)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(1)
    mode = "quick" if args.quick else "full"
    work = (args.work or ROOT / ("build/quick" if args.quick else "build/model")).resolve()
    out = (args.out or (work / "models" if args.quick else ROOT / "models")).resolve()
    phases = set(args.phases)
    if "all" in phases:
        phases |= {"corpus", "train", "export", "reference", "card", "llama"}
    cfg = configs.TINYGPT[mode]
    gpt_dir = out / "tinygpt"
    log_path = gpt_dir / "training_log.jsonl"

    if "corpus" in phases:
        stats = prepare(work / "corpus", seed=cfg["train"]["seed"])
        print("corpus:", json.dumps(stats), flush=True)
    if "train" in phases:
        t0 = time.time()
        train(cfg["model"], cfg["train"], work / "corpus", work / "tinygpt", log_path)
        print(f"train: {time.time() - t0:.0f} s", flush=True)
    if phases & {"export", "reference", "card"}:
        from gpt2 import GPT2
        from pipeline import export_gpt2, reference_gpt2, write_card

        ckpt = torch.load(work / "tinygpt" / "checkpoint.pt")
        model = GPT2(ckpt["model_cfg"])
        model.load_state_dict(ckpt["state_dict"])
        model.eval()
        if "export" in phases:
            export_gpt2(model, gpt_dir, work / "corpus")
        if "reference" in phases:
            reference_gpt2(model, gpt_dir)
        if "card" in phases:
            write_card(model, gpt_dir, work / "corpus", log_path)
    if "llama" in phases:
        from pipeline import build_llama

        build_llama(configs.TINYLLAMA, out / "tinyllama")
    if phases & {"lora", "lora-check"}:
        # Adapters of the committed tinygpt (its ONNX export is the base, so this phase needs no
        # checkpoint); ~10 minutes of CPU. lora-check only reloads and checks the written ones.
        from lora_build import build_adapter, self_check

        specs = configs.LORA if not args.quick else [{**s, "steps": 10, "eval_items": 16} for s in configs.LORA]
        for spec in specs:
            if args.adapter and spec["name"] not in args.adapter:
                continue
            if "lora" in phases:
                build_adapter(spec, ROOT / "models" / "tinygpt", out / spec["name"])
            else:
                self_check(ROOT / "models" / "tinygpt", out / spec["name"])
    if "lora-export" in phases:
        # tinygpt with LoRA weights as inputs (one pass serves rows of different adapters),
        # checked against each committed adapter applied alone.
        from lora_export import check_mixed_batch, export_lora_onnx

        base = ROOT / "models" / "tinygpt"
        size = export_lora_onnx(base, out / "tinygpt" / "onnx" / "model_lora.onnx")
        worst = check_mixed_batch(base, [ROOT / "models" / s["name"] for s in configs.LORA],
                                  [q for s in configs.LORA for q in s["examples"]][:1] + [s["examples"][0] for s in configs.LORA])
        print(f"lora-export: {out / 'tinygpt' / 'onnx' / 'model_lora.onnx'} ({size} bytes); a batch mixing the base and "
              f"{len(configs.LORA)} adapters equals each alone in PyTorch (max logit diff {worst:.1e})", flush=True)
    if "decode-export" in phases:
        # The decode-step graphs of the committed tinygpt (its ONNX export is the base): the
        # cache is read in place, only the new position's keys and values come back.
        from base_from_onnx import load_base
        from decode_export import export_decode_onnx, export_lora_decode_onnx

        base = ROOT / "models" / "tinygpt"
        for name, size in (("model_decode.onnx", export_decode_onnx(load_base(base), out / "tinygpt" / "onnx" / "model_decode.onnx")),
                           ("model_lora_decode.onnx", export_lora_decode_onnx(base, out / "tinygpt" / "onnx" / "model_lora_decode.onnx"))):
            print(f"decode-export: {out / 'tinygpt' / 'onnx' / name} ({size} bytes)", flush=True)
    if "bench" in phases:
        from pipeline import build_bench

        build_bench(configs.BENCH_26M, out / "bench-26m")
    if "quantize" in phases:
        # int8 variants (tinygpt-int8, and bench-26m-int8 when bench-26m is built) with onnx + numpy;
        # build.sh then measures their metrics with onnxruntime-node (scripts/bench/int8-metrics.ts).
        import quantize

        quantize.run(models=out, corpus=work / "corpus")
    print(f"models written to {out}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
