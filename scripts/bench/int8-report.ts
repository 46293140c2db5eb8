/**
 * bench:int8's report: docs/bench/int8.md (tables a person reads, with the reading computed from
 * the figures) and the figures section of models/tinygpt-int8/README.md (the model card).
 */
import { readFileSync, writeFileSync } from 'node:fs';

import type { PairQuality } from './int8-eval';
import { round } from './stats';

export interface FileSize {
  readonly file: string;
  readonly fp32Bytes: number;
  readonly int8Bytes: number;
  readonly ratio: number;
}

interface SpeedFigures {
  readonly tokensPerS: number;
  readonly itlP50Ms: number;
  readonly ttftP50Ms: number;
  /** tokens/s of every round. */
  readonly rounds: number[];
}

export interface SpeedRun {
  readonly concurrency: number;
  readonly fp32: SpeedFigures;
  readonly int8: SpeedFigures;
}

export interface ModelInt8 {
  readonly files: FileSize[];
  readonly quality: PairQuality;
  readonly promptsFrom: string;
  readonly speed: SpeedRun[];
  /** Bare decode loop tokens/s (median round) per batch. */
  readonly forms: { batch: number; fp32: number; MatMulInteger: number; QDQ: number; rounds: Record<string, number[]> }[];
  readonly formTokens: number;
  /** Nodes per op type of each variant's decode-step graph as onnxruntime optimizes it. */
  readonly optimizedOps: Record<string, Record<string, number>>;
}

export interface Int8Report {
  readonly when: string;
  readonly machine: string;
  readonly quick: boolean;
  readonly setup: { tokens: number; temperature: number; rounds: number; models: Record<string, { seconds: number }> };
  readonly models: Record<string, ModelInt8>;
}

const MB = (b: number) => (b / 1e6).toFixed(2);
const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${pct(x, 2)}`;
const ratio = (a: number, b: number) => round(a / b, 2);
const span = (xs: number[] = []) => `${Math.min(...xs)}–${Math.max(...xs)}`;

function tables(name: string, m: ModelInt8, seconds: number): string[] {
  const q = m.quality;
  return [
    `### ${name}`,
    '',
    '| file | fp32 MB | int8 MB | int8 / fp32 |',
    '|---|---|---|---|',
    ...m.files.map((f) => `| onnx/${f.file} | ${MB(f.fp32Bytes)} | ${MB(f.int8Bytes)} | ${pct(f.ratio)} |`),
    '',
    '| held-out loss fp32 (nats/byte) | held-out loss int8 | change | greedy agreement with fp32 | fp32 agreement with PyTorch |',
    '|---|---|---|---|---|',
    `| ${q.heldOutLossFp32.toFixed(4)} | ${q.heldOutLossInt8.toFixed(4)} | ${signed(q.heldOutLossInt8 / q.heldOutLossFp32 - 1)} | ` +
      `${pct(q.greedyAgreement)} | ${q.fp32ReferenceAgreement === null ? '– (no reference.json)' : pct(q.fp32ReferenceAgreement)} |`,
    '',
    `Held-out loss over ${q.heldOutTokens.toLocaleString('en-US')} tokens (models/tinygpt-int8/eval/heldout.json); greedy agreement over the prompts of ${m.promptsFrom}.`,
    '',
    `Engine, sampled closed loop, ${seconds} s per round (median round; every round's tokens/s in brackets):`,
    '',
    '| concurrency | fp32 tokens/s | int8 tokens/s | int8 / fp32 | inter-token p50 ms fp32 / int8 | TTFT p50 ms fp32 / int8 |',
    '|---|---|---|---|---|---|',
    ...m.speed.map(
      (s) =>
        `| ${s.concurrency} | ${s.fp32.tokensPerS} [${s.fp32.rounds.join(', ')}] | ${s.int8.tokensPerS} [${s.int8.rounds.join(', ')}] | ` +
        `**${ratio(s.int8.tokensPerS, s.fp32.tokensPerS)}** | ${s.fp32.itlP50Ms} / ${s.int8.itlP50Ms} | ${s.fp32.ttftP50Ms} / ${s.int8.ttftP50Ms} |`,
    ),
    '',
    `Form, bare decode loop (prefill on model.onnx, ${m.formTokens} steps on model_decode.onnx, greedy; median round):`,
    '',
    '| batch | fp32 tokens/s | MatMulInteger | QDQ | MatMulInteger / QDQ | MatMulInteger rounds min–max | QDQ rounds min–max |',
    '|---|---|---|---|---|---|---|',
    ...m.forms.map(
      (f) =>
        `| ${f.batch} | ${f.fp32} | ${f.MatMulInteger} | ${f.QDQ} | **${ratio(f.MatMulInteger, f.QDQ)}** | ${span(f.rounds['MatMulInteger'])} | ${span(f.rounds['QDQ'])} |`,
    ),
    '',
    'model_decode.onnx as onnxruntime optimizes it (nodes):',
    '',
    '| variant | all nodes | DynamicQuantizeMatMul | MatMul | Add | DequantizeLinear |',
    '|---|---|---|---|---|---|',
    ...Object.entries(m.optimizedOps).map(
      ([v, ops]) =>
        `| ${v} | ${Object.values(ops).reduce((a, b) => a + b, 0)} | ${ops['com.microsoft.DynamicQuantizeMatMul'] ?? 0} | ` +
        `${ops['MatMul'] ?? 0} | ${ops['Add'] ?? 0} | ${ops['DequantizeLinear'] ?? 0} |`,
    ),
    '',
  ];
}

/** The reading: what the figures say, in sentences computed from them. */
function reading(r: Int8Report): string[] {
  const lines: string[] = [];
  for (const [name, m] of Object.entries(r.models)) {
    const worst = Math.max(...m.files.map((f) => f.ratio));
    const q = m.quality;
    const c = (n: number) => m.speed.find((s) => s.concurrency === n);
    const speedup = (n: number) => (c(n) ? `${ratio(c(n)!.int8.tokensPerS, c(n)!.fp32.tokensPerS)}×` : '–');
    const form = (b: number) => m.forms.find((f) => f.batch === b);
    lines.push(
      `- **${name}**: every int8 file is at most ${pct(worst, 0)} of its fp32 file; held-out loss ${signed(q.heldOutLossInt8 / q.heldOutLossFp32 - 1)}; ` +
        `${pct(q.greedyAgreement, 0)} of greedy tokens equal fp32's; the engine makes ${speedup(1)} the fp32 tokens/s at concurrency 1 and ${speedup(32)} at 32. ` +
        `MatMulInteger against QDQ, bare decode loop: ${form(1) ? ratio(form(1)!.MatMulInteger, form(1)!.QDQ) : '–'}× at batch 1, ` +
        `${form(32) ? ratio(form(32)!.MatMulInteger, form(32)!.QDQ) : '–'}× at batch 32.`,
    );
  }
  return lines;
}

/** Why the committed form: what onnxruntime makes of each, and how their speeds compare. */
function formReading(r: Int8Report): string[] {
  const models = Object.entries(r.models);
  const ops = (m: ModelInt8, v: string, op: string) => m.optimizedOps[v]?.[op] ?? 0;
  const same = models.every(([, m]) => ops(m, 'MatMulInteger', 'com.microsoft.DynamicQuantizeMatMul') === ops(m, 'QDQ', 'com.microsoft.DynamicQuantizeMatMul'));
  const ratios = models.flatMap(([name, m]) => m.forms.map((f) => `${name} batch ${f.batch}: ${ratio(f.MatMulInteger, f.QDQ)}×`));
  const overlap = models.every(([, m]) =>
    m.forms.every((f) => {
      const [a, b] = [f.rounds['MatMulInteger'] ?? [], f.rounds['QDQ'] ?? []];
      return Math.min(...a) <= Math.max(...b) && Math.min(...b) <= Math.max(...a);
    }),
  );
  return [
    `- Form: onnxruntime ${same ? 'compiles both forms to the same number of' : 'compiles the forms to different numbers of'} fused ` +
      `DynamicQuantizeMatMul kernels (${models.map(([n, m]) => `${n}: ${ops(m, 'MatMulInteger', 'com.microsoft.DynamicQuantizeMatMul')}`).join(', ')}); ` +
      `from the MatMulInteger form it also folds the bias Adds into those kernels (${models
        .map(([n, m]) => `${n}: ${ops(m, 'MatMulInteger', 'Add')} Add nodes left against ${ops(m, 'QDQ', 'Add')}`)
        .join(', ')}).`,
    `  MatMulInteger / QDQ tokens/s, bare decode loop: ${ratios.join(', ')}; ` +
      (overlap
        ? "the two forms' rounds overlap at every batch of every model, so no speed difference between them is measurable here. "
        : 'at some batch their rounds do not overlap (tables below). ') +
      "The committed models use MatMulInteger, `quantize_dynamic`'s own form: the same kernels, fewer nodes.",
  ];
}

export function renderReport(r: Int8Report): string {
  return [
    '# int8 benchmark',
    '',
    `\`npm run bench:int8\`${r.quick ? ' -- --quick (a check of the benchmark, not a result)' : ''}, ${r.when}; ${r.machine}.`,
    `fp32 models against their int8 variants (scripts/model/quantize.py: dynamic int8 in onnxruntime's \`quantize_dynamic\` form).`,
    `Engine runs: ${r.setup.tokens}-token requests at temperature ${r.setup.temperature}, as bench:mesh's engine section; ${r.setup.rounds} rounds,`,
    'fp32 and int8 alternating, so drift of the shared machine weighs on both. bench-26m has random weights: its loss and',
    'agreement say only that quantization did not break it (a random model puts nearly equal mass on every byte); its speed is',
    'the figure that counts.',
    '',
    '## Reading',
    '',
    ...reading(r),
    '- Why int8 is faster here: decode steps are matrix-vector products bound by reading the weights; int8 weights are a',
    '  quarter of the bytes, and onnxruntime fuses DynamicQuantizeLinear → MatMulInteger → Cast → Mul into one',
    '  DynamicQuantizeMatMul kernel (u8×s8 with int32 accumulation). The gain grows with the model: tinygpt (1.4 M',
    '  parameters) is small enough that per-node overhead weighs as much as its weights; bench-26m (26 M) is not.',
    ...formReading(r),
    '',
    ...Object.entries(r.models).flatMap(([name, m]) => tables(name, m, r.setup.models[name]!.seconds)),
  ].join('\n');
}

const MARKER = '<!-- int8:bench -->';

/** Replaces the card's figures section (from the marker to the end) with tinygpt's figures. */
export function renderCardSection(cardPath: string, r: Int8Report): void {
  const m = r.models['tinygpt'];
  if (!m) return;
  const card = readFileSync(cardPath, 'utf8');
  const head = card.includes(MARKER) ? card.slice(0, card.indexOf(MARKER)) : card.trimEnd() + '\n\n';
  const section = [
    MARKER,
    `### int8 against fp32 (\`npm run bench:int8\`, ${r.when.slice(0, 10)}; full report in docs/bench/int8.md)`,
    '',
    ...reading(r),
    ...formReading(r),
    '',
    ...tables('tinygpt', m, r.setup.models['tinygpt']!.seconds).slice(2),
    'The training log, the samples and the figures above the int8 section are those of the fp32 model (models/tinygpt).',
    '',
  ];
  writeFileSync(cardPath, head + section.join('\n'));
}
