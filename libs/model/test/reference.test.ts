import { CausalLm, checkReference, greedy, loadReference, promptRows, type ReferenceFile } from '../src';
import { COMMITTED, modelDir } from './committed-models';

const LOGIT_TOLERANCE = 1e-4;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(COMMITTED)('%s against its PyTorch reference', (name) => {
  let lm: CausalLm;
  let ref: ReferenceFile;
  beforeAll(async () => {
    lm = await CausalLm.load(modelDir(name));
    ref = await loadReference(modelDir(name));
  });
  afterAll(() => lm.release());

  it('covers at least 3 prompts, one of them a left-padded batch of 2', () => {
    expect(ref.cases.length).toBeGreaterThanOrEqual(3);
    const batch = ref.cases.find((c) => c.prompts.length === 2);
    expect(batch?.attention_mask.some((row) => row.includes(0))).toBe(true);
    for (const c of ref.cases) for (const row of c.greedy_ids) expect(row).toHaveLength(32);
  });

  it('greedy decoding with the KV cache reproduces the reference tokens; first-step logits within 1e-4', async () => {
    const reports = await checkReference(lm, ref);
    expect(reports).toHaveLength(ref.cases.length);
    for (const [i, report] of reports.entries()) {
      expect(report.tokens).toEqual(ref.cases[i]!.greedy_ids);
      expect(report.maxFirstStepLogitDiff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    }
  });

  it('decoding with the KV cache equals full recompute', async () => {
    for (const c of ref.cases) {
      const cached = await greedy(lm, promptRows(c), 16);
      const full = await greedy(lm, promptRows(c), 16, { useCache: false });
      expect(cached.tokens).toEqual(full.tokens);
      cached.stepLogits.forEach((rows, s) =>
        rows.forEach((logits, r) => expect(maxAbsDiff(logits, full.stepLogits[s]![r]!)).toBeLessThanOrEqual(LOGIT_TOLERANCE)),
      );
    }
  });

  it('the padded batch equals its prompts run alone', async () => {
    const c = ref.cases.find((x) => x.prompts.length === 2)!;
    const rows = promptRows(c);
    expect(rows[0]!.length).not.toBe(rows[1]!.length);
    const batched = await greedy(lm, rows, 32);
    for (const [r, row] of rows.entries()) {
      const alone = await greedy(lm, [row], 32);
      expect(batched.tokens[r]).toEqual(alone.tokens[0]);
      alone.stepLogits.forEach((step, s) => expect(maxAbsDiff(step[0]!, batched.stepLogits[s]![r]!)).toBeLessThanOrEqual(LOGIT_TOLERANCE));
    }
  });
});
