"""int8 variants of tokenmesh's models (phase `quantize` of `npm run model:build`): models/tinygpt ->
models/tinygpt-int8 and, when built, models/bench-26m -> models/bench-26m-int8.

onnxruntime's Python package, whose `onnxruntime.quantization.quantize_dynamic` is the reference
for this, is not installable here (not in Debian, PyPI unreachable), so this script writes the same
standard form itself with Debian's python3-onnx and numpy only:

- every MatMul whose B is a constant 2-D float initializer becomes
  DynamicQuantizeLinear(A) -> (A_q uint8, A_scale, A_zp); B as an int8 initializer, symmetric
  (zero point 0), one scale per tensor (quantize_dynamic's default; per column with --per-column);
  MatMulInteger(A_q, B_q, A_zp, B_zp) -> int32; Cast to float; Mul by A_scale * B_scale. One
  DynamicQuantizeLinear per activation, shared by the MatMuls that read it. onnxruntime fuses the
  chain into its DynamicQuantizeMatMul kernel at load. Gemm with constant weights likewise (none in
  these graphs: the exporter writes MatMul + Add).
- every Gather whose data is a constant 2-D float initializer (the token and position embeddings)
  reads an int8 table and is followed by DequantizeLinear, as quantize_dynamic's GatherQuant does.
  The tied lm_head is a separate [d, vocab] initializer in these exports (a MatMul, quantized as
  one); nothing reads a Transpose of the embedding.
- everything else stays fp32: LayerNorm, attention, biases, and the LoRA branches, whose weights are
  graph inputs (not constants), so the LoRA exports still take any adapter. Input and output names,
  shapes and dtypes (fp32 logits and KV cache) are unchanged, so an int8 directory is served
  exactly like an fp32 one.

Form: MatMulInteger (quantize_dynamic's QOperator form), not QDQ. `--form QDQ` writes the QDQ form
(DynamicQuantizeLinear -> DequantizeLinear on activations, DequantizeLinear on the int8 weights,
fp32 MatMul) for comparison, and `npm run bench:int8` measures both in onnxruntime-node: onnxruntime
compiles both to the same DynamicQuantizeMatMul kernels (17 in tinygpt's decode graph, 33 in
bench-26m's); from the MatMulInteger form it also folds the bias Adds into them (13 Add nodes left
against 25). Bare decode loops, MatMulInteger / QDQ tokens/s: tinygpt 1.05x (batch 1) and 1.08x
(batch 32), bench-26m 0.96x and 0.95x, with the two forms' rounds overlapping everywhere: no
difference measurable on this shared machine. Same kernels, fewer nodes, the reference's own form:
MatMulInteger. Figures in docs/bench/int8.md ("Form").
Per-tensor weight scales: per column (--per-column) measured no better on tinygpt's held-out sample
(1.6251 against 1.6200 nats/byte; fp32 1.5876), so quantize_dynamic's default stays.

Beside the files, model-meta.json (its keys: write_meta) goes into both the source and the
int8 directory; its metrics are measured with onnxruntime-node by scripts/bench/int8-metrics.ts,
which build.sh runs after this phase. The held-out sample (eval/heldout.json) is cut from the
corpus phase's held-out split (build/model/corpus/val.bin).

  /usr/bin/python3 scripts/model/quantize.py [--src models/tinygpt --out DIR] [--form QDQ] [--per-column] | --ops FILE...
"""
import argparse
import hashlib
import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
COPIED = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json", "reference.json"]
EOT_ID = 256
# The held-out sample: the first WINDOW bytes (after <|endoftext|>) of every STRIDE-th held-out document.
SAMPLE_STRIDE, SAMPLE_WINDOW = 4, 511


def quantize_weight(w, per_column):
    """Symmetric int8 (zero point 0, range [-127, 127]); one scale, or one per column of B [K, N]."""
    amax = np.abs(w).max(axis=0) if per_column else np.abs(w).max()
    scale = np.maximum(amax, 1e-12).astype(np.float32) / np.float32(127)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, np.asarray(scale, dtype=np.float32)


class Rewriter:
    """Rewrites one graph in place; `form` is "MatMulInteger" or "QDQ"."""

    def __init__(self, graph, form, per_column):
        self.g, self.form, self.per_column = graph, form, per_column
        self.inits = {i.name: i for i in graph.initializer}
        self.new_inits, self.dynamic = [], {}
        self.count = {"MatMul": 0, "Gemm": 0, "Gather": 0}

    def weight(self, name):
        t = self.inits.get(name)
        return t if t is not None and t.data_type == TensorProto.FLOAT and len(t.dims) == 2 else None

    def add_quantized(self, name, per_column):
        q, scale = quantize_weight(numpy_helper.to_array(self.inits[name]), per_column)
        zp = np.zeros(scale.shape, dtype=np.int8)
        for suffix, arr in (("_quantized", q), ("_scale", scale), ("_zero_point", zp)):
            self.new_inits.append(numpy_helper.from_array(arr, name + suffix))
        return name + "_quantized", name + "_scale", name + "_zero_point"

    def quantize_activation(self, a, out):
        """One DynamicQuantizeLinear per activation tensor, shared by every MatMul that reads it."""
        if a not in self.dynamic:
            names = (f"{a}_quantized", f"{a}_scale", f"{a}_zero_point")
            out.append(helper.make_node("DynamicQuantizeLinear", [a], list(names), name=f"{a}_QuantizeLinear"))
            self.dynamic[a] = names
        return self.dynamic[a]

    def matmul(self, node, a, b, y, out):
        bq, bs, bz = self.add_quantized(b, self.per_column)
        aq, as_, az = self.quantize_activation(a, out)
        n = node.name or y
        if self.form == "QDQ":
            out.append(helper.make_node("DequantizeLinear", [aq, as_, az], [f"{y}_A_dq"], name=f"{n}_A_DequantizeLinear"))
            out.append(helper.make_node("DequantizeLinear", [bq, bs, bz], [f"{b}_dq"], name=f"{n}_B_DequantizeLinear",
                                        **({"axis": 1} if self.per_column else {})))
            out.append(helper.make_node("MatMul", [f"{y}_A_dq", f"{b}_dq"], [y], name=n))
            return
        out.append(helper.make_node("MatMulInteger", [aq, bq, az, bz], [f"{y}_int32"], name=f"{n}_quant"))
        out.append(helper.make_node("Cast", [f"{y}_int32"], [f"{y}_float"], to=TensorProto.FLOAT, name=f"{n}_cast"))
        out.append(helper.make_node("Mul", [as_, bs], [f"{y}_scales_mul"], name=f"{n}_scales_mul"))
        out.append(helper.make_node("Mul", [f"{y}_float", f"{y}_scales_mul"], [y], name=f"{n}_output_scale_mul"))

    def rewrite(self):
        out = []
        for node in self.g.node:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "MatMul" and self.weight(node.input[1]) is not None:
                self.matmul(node, node.input[0], node.input[1], node.output[0], out)
                self.count["MatMul"] += 1
            elif (node.op_type == "Gemm" and self.weight(node.input[1]) is not None and not attrs.get("transA")
                  and not attrs.get("transB") and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0):
                y = node.output[0]
                self.matmul(node, node.input[0], node.input[1], y + "_gemm" if len(node.input) > 2 else y, out)
                if len(node.input) > 2:
                    out.append(helper.make_node("Add", [y + "_gemm", node.input[2]], [y], name=f"{node.name}_bias_add"))
                self.count["Gemm"] += 1
            elif node.op_type == "Gather" and attrs.get("axis", 0) == 0 and self.weight(node.input[0]) is not None:
                wq, ws, wz = self.add_quantized(node.input[0], per_column=False)
                y = node.output[0]
                out.append(helper.make_node("Gather", [wq, node.input[1]], [f"{y}_quantized"], name=node.name))
                out.append(helper.make_node("DequantizeLinear", [f"{y}_quantized", ws, wz], [y], name=f"{node.name}_DequantizeLinear"))
                self.count["Gather"] += 1
            else:
                out.append(node)
        del self.g.node[:]
        self.g.node.extend(out)
        used = {x for n in self.g.node for x in n.input}
        kept = [i for i in self.g.initializer if i.name in used]
        del self.g.initializer[:]
        self.g.initializer.extend(kept + [i for i in self.new_inits if i.name in used])
        return self.count


def quantize_file(src, dst, form, per_column):
    model = onnx.load(str(src))
    count = Rewriter(model.graph, form, per_column).rewrite()
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return count


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_log(model_dir):
    path = model_dir / "training_log.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []


def describe(src, name):
    """What a model-meta.json says of the source model: from its config, training log and card."""
    cfg = json.loads((src / "config.json").read_text())
    arch = {k: cfg.get(k) for k in ("model_type", "n_layer", "n_embd", "n_head", "n_positions", "vocab_size")}
    log = read_log(src)
    start = next((l for l in log if l["event"] == "start"), None)
    if start is None:
        return {
            "description": f"{name}: a random-weight {arch['n_layer']}-layer, d={arch['n_embd']} GPT-2 over bytes, for "
                           "performance work (scripts/model/pipeline.py build_bench); its text is noise.",
            "trainingData": None,
            "hyperparameters": {**arch, "parameters": None, "training": None},
            "fp32Limitations": ["Untrained (random weights): loss and text mean nothing; only speed and agreement do.",
                                "Not committed: built by `npm run model:bench`."],
        }
    c = start["corpus"]
    evals = [l for l in log if l["event"] == "eval"]
    return {
        "description": f"{name}: a {start['parameters'] / 1e6:.2f} M-parameter GPT-2-architecture language model over bytes, "
                       "trained on this machine by `npm run model:build`; tokenmesh's default model for tests, demos and benchmarks.",
        "trainingData": (f"King James Version of the Bible (Debian bible-kjv, {c['documents_by_source']['bible-kjv']} chapters) and the "
                         f"Jargon File 4.4.x (Debian jargon-text, {c['documents_by_source']['jargon-text']} entries), both public domain "
                         f"(scripts/model/corpus.py); a seeded {c['holdout_fraction']:.0%} of documents ({c['validation_documents']}, "
                         f"seed {c['seed']}) held out: {c['train_tokens']:,} training bytes, {c['validation_tokens']:,} held-out bytes."),
        "hyperparameters": {**arch, "parameters": start["parameters"], "training": start["train"],
                            "steps": evals[-1]["step"] if evals else None, "tokensSeen": evals[-1]["tokens"] if evals else None,
                            "trainingHeldOutLoss": evals[-1]["val_nats_per_byte"] if evals else None},
        "fp32Limitations": ["Writes plausible-looking but meaningless text; knows only the King James Bible and the Jargon File.",
                            "No instruction tuning: the chat template is a format, not a skill; repeats itself under greedy decoding.",
                            f"Context is {arch['n_positions']} bytes; positions beyond 256 saw only the last {start['train']['long_steps']} training steps."],
    }


def write_meta(model_dir, name, version, source, info, quantization, previous=None):
    """model-meta.json: every key present; metrics kept from the last one where the files are unchanged."""
    files = {f"onnx/{p.name}": {"sha256": sha256(p), "bytes": p.stat().st_size} for p in sorted((model_dir / "onnx").glob("*.onnx"))}
    old = previous if previous is not None else (json.loads((model_dir / "model-meta.json").read_text())
                                                 if (model_dir / "model-meta.json").exists() else {})
    same = old.get("files") == files
    limitations = list(info["fp32Limitations"])
    if quantization:
        limitations.append("int8 weights: logits differ from the fp32 model's by quantization noise, so greedy decoding drifts "
                           "from the fp32 continuation after a few dozen tokens (metrics.greedyAgreement); the PyTorch "
                           "reference.json is the fp32 model's and is matched approximately, not exactly.")
    meta = {
        "name": name,
        "version": version,
        "description": info["description"] + (f" This is its int8 variant ({quantization['form']} form)." if quantization else ""),
        "source": source,
        "trainingData": info["trainingData"],
        "hyperparameters": info["hyperparameters"],
        "metrics": old["metrics"] if same and "metrics" in old else {"heldOutLoss": None, "heldOutLossFp32": None, "greedyAgreement": None},
        "quantization": quantization,
        "knownLimitations": limitations,
        "createdAt": old["createdAt"] if same and "createdAt" in old else datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    }
    (model_dir / "model-meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def write_heldout(corpus, out):
    """eval/heldout.json from the corpus phase's held-out split, checked to be the split training used."""
    stats = json.loads((corpus / "corpus.json").read_text())
    start = next(l for l in read_log(ROOT / "models" / "tinygpt") if l["event"] == "start")
    if stats != start["corpus"]:
        raise SystemExit(f"{corpus}/corpus.json is not the split models/tinygpt was trained on: {stats} vs {start['corpus']}")
    val = np.fromfile(corpus / "val.bin", dtype=np.uint16)
    ends = np.flatnonzero(val == EOT_ID)
    docs = np.split(val, ends[:-1] + 1)
    windows = []
    for doc in docs[::SAMPLE_STRIDE]:
        raw = bytes(doc[doc != EOT_ID][:SAMPLE_WINDOW].astype(np.uint8))
        windows.append(raw.decode("utf-8", errors="ignore"))  # drops a character cut at the end
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "description": "Held-out sample for held-out loss without Python: each window is <|endoftext|> (id 256) followed by "
                       "its text's UTF-8 bytes (token = byte); loss is the mean cross-entropy of every byte given the ones before.",
        "source": f"`npm run model:build -- corpus` (scripts/model/corpus.py, seed {stats['seed']}): the held-out split models/tinygpt "
                  f"was trained without ({stats['validation_documents']} documents in build/model/corpus/val.bin); the first "
                  f"{SAMPLE_WINDOW} bytes of every {SAMPLE_STRIDE}th document, written by scripts/model/quantize.py",
        "windows": windows,
    }, indent=1, ensure_ascii=False) + "\n")
    return sum(len(w.encode()) for w in windows)


def int8_card(src_card, name, form):
    """The source card, retitled, plus the int8 section (kept from the last card: bench:int8 fills it)."""
    body = src_card.replace("tags: [gpt2, onnx,", "tags: [gpt2, onnx, int8,", 1).replace(f"\n# {name}\n", f"\n# {name}-int8\n", 1)
    return body.rstrip() + f"""

## int8 variant
This directory is models/{name} with int8 weights, written by `npm run model:build -- quantize`
(scripts/model/quantize.py): dynamic quantization in the form onnxruntime's `quantize_dynamic` writes
({form}: DynamicQuantizeLinear on activations, symmetric per-tensor int8 weights, int32
accumulation, fp32 rescale), int8 embedding tables with DequantizeLinear after the Gather; LoRA
branches, LayerNorm, attention, logits and the KV cache stay fp32, so inputs and outputs are those
of the fp32 model and the LoRA exports take the same adapters. `model-meta.json` lists every onnx
file with its sha256; `eval/heldout.json` is the held-out sample the figures below are measured on.
"""


def quantize_model(src, dst, form="MatMulInteger", per_column=False, source_meta=True):
    name = src.name
    if dst.exists():
        old_meta = json.loads((dst / "model-meta.json").read_text()) if (dst / "model-meta.json").exists() else None
        old_card = (dst / "README.md").read_text() if (dst / "README.md").exists() else ""
        shutil.rmtree(dst / "onnx", ignore_errors=True)
    else:
        old_meta, old_card = None, ""
    dst.mkdir(parents=True, exist_ok=True)
    for f in COPIED:
        if (src / f).exists():
            shutil.copy2(src / f, dst / f)
    for f in sorted((src / "onnx").glob("*.onnx")):
        count = quantize_file(f, dst / "onnx" / f.name, form, per_column)
        print(f"quantize: {dst.relative_to(ROOT) if dst.is_relative_to(ROOT) else dst}/onnx/{f.name}: {f.stat().st_size:,} -> "
              f"{(dst / 'onnx' / f.name).stat().st_size:,} bytes ({count})", flush=True)
    if (src / "README.md").exists():
        card = int8_card((src / "README.md").read_text(), name, form)
        marker = "<!-- int8:bench -->"
        if marker in old_card:
            card += "\n" + old_card[old_card.index(marker):]
        (dst / "README.md").write_text(card)
    info = describe(src, name)
    quantization = {
        "method": "dynamic int8",
        "form": form,
        "weights": (f"int8, symmetric (zero point 0), one scale per {'column' if per_column else 'tensor'}: every MatMul with a "
                    "constant weight (attention, MLP, lm_head) and the token and position embedding tables (Gather, then DequantizeLinear)"),
        "activations": "uint8, per-tensor scale and zero point computed at run time (DynamicQuantizeLinear); LayerNorm, attention "
                       "scores, softmax, biases, LoRA branches, logits and KV cache fp32",
    }
    if source_meta:
        write_meta(src, name, "1", f"models/{name}", info, None)
    write_meta(dst, name, "int8", f"models/{name} ({name}@1), quantized by scripts/model/quantize.py", info, quantization, old_meta)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", type=Path, help="one source model directory (default: models/tinygpt and, if built, models/bench-26m)")
    p.add_argument("--out", type=Path, help="with --src: the int8 directory (default: <src>-int8)")
    p.add_argument("--form", choices=["MatMulInteger", "QDQ"], default="MatMulInteger")
    p.add_argument("--per-column", action="store_true", help="one weight scale per output column instead of per tensor")
    p.add_argument("--ops", type=Path, nargs="+", help="only print each file's node count per op type, as JSON")
    args = p.parse_args(argv)
    if args.ops:
        print(json.dumps({str(f): op_counts(f) for f in args.ops}))
        return
    run(args.src, args.out, args.form, args.per_column)


def op_counts(path):
    """Nodes per op type ("domain.op" outside the default domain), e.g. of onnxruntime's optimized graph."""
    counts = {}
    for n in onnx.load(str(path)).graph.node:
        key = f"{n.domain}.{n.op_type}" if n.domain else n.op_type
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def run(src=None, out=None, form="MatMulInteger", per_column=False, models=ROOT / "models", corpus=ROOT / "build/model/corpus"):
    pairs = [(src.resolve(), (out or src.with_name(src.name + "-int8")).resolve())] if src else [
        (models / n, models / f"{n}-int8") for n in ("tinygpt", "bench-26m") if (models / n / "onnx" / "model.onnx").exists()]
    for s, d in pairs:
        # One directory (--src, e.g. bench:int8's QDQ comparison) leaves the source's model-meta.json alone.
        quantize_model(s, d, form, per_column, source_meta=not src)
    heldout = models / "tinygpt-int8" / "eval" / "heldout.json"
    if not src and (corpus / "val.bin").exists():
        print(f"quantize: {heldout.relative_to(ROOT)}: {write_heldout(corpus, heldout):,} held-out bytes", flush=True)
    elif not src and not heldout.exists():
        raise SystemExit(f"no {corpus}/val.bin to cut the held-out sample from: run `npm run model:build -- corpus` first")


if __name__ == "__main__":
    main(sys.argv[1:])
