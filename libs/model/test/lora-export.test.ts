import {
  adapterIndex,
  CausalLm,
  greedy,
  loadLoraAdapter,
  loadReference,
  LORA_ONNX_FILE,
  loraModules,
  LoraPassFeeds,
  promptRows,
  type ReferenceCase,
  type ReferenceFile,
  stackAdapters,
} from '../src';
import { modelDir } from './committed-models';

const LOGIT_TOLERANCE = 1e-4;

/** Row `r` of a reference case: its prompt, greedy ids and first-step top-k logits. */
const row = (c: ReferenceCase, r: number) => ({
  prompt: promptRows(c)[r]!,
  ids: c.greedy_ids[r]!,
  topIds: c.first_step_top_ids[r]!,
  topLogits: c.first_step_top_logits[r]!,
});

describe('tinygpt LoRA export: rows of different adapters in one decode pass', () => {
  let lm: CausalLm;
  let refs: Record<'tinygpt' | 'tinygpt-chat' | 'tinygpt-jargon', ReferenceFile>;
  beforeAll(async () => {
    lm = await CausalLm.load(modelDir('tinygpt'), {}, LORA_ONNX_FILE);
    refs = {
      tinygpt: await loadReference(modelDir('tinygpt')),
      'tinygpt-chat': await loadReference(modelDir('tinygpt-chat')),
      'tinygpt-jargon': await loadReference(modelDir('tinygpt-jargon')),
    };
  });
  afterAll(() => lm.release());

  it('takes adapter_index and a stacked A and B for every LoRA-able linear of every block', () => {
    const names = loraModules(lm.spec).flatMap((m) => [`lora_A.${m.name}`, `lora_B.${m.name}`]);
    expect(names).toHaveLength(lm.spec.numLayers * 4 * 2);
    expect(lm.session.inputNames).toEqual(expect.arrayContaining(['adapter_index', ...names]));
  });

  it('a batch mixing the chat adapter, the base and the jargon adapter reproduces each one’s own PyTorch reference', async () => {
    const chat = await loadLoraAdapter(modelDir('tinygpt-chat'), lm.spec);
    const jargon = await loadLoraAdapter(modelDir('tinygpt-jargon'), lm.spec);
    const stack = stackAdapters(lm.spec, [chat, jargon]);
    expect({ slots: stack.slots, rank: stack.rank }).toEqual({ slots: 3, rank: 8 });
    // Slots out of order in the batch: each row must get its own adapter, not its neighbour's.
    const rows = [row(refs['tinygpt-jargon'].cases[0]!, 0), row(refs.tinygpt.cases[0]!, 0), row(refs['tinygpt-chat'].cases[0]!, 0)];
    const slots = [2, 0, 1];
    const steps = Math.max(...rows.map((r) => r.ids.length));
    const { tokens, stepLogits } = await greedy(
      lm,
      rows.map((r) => r.prompt),
      steps,
      { feeds: { adapter_index: adapterIndex(slots), ...stack.feeds } },
    );
    rows.forEach((r, i) => {
      // The base reference runs past end-of-text for a fixed count; an adapter's ends at it.
      expect({ row: i, tokens: tokens[i]!.slice(0, r.ids.length) }).toEqual({ row: i, tokens: r.ids });
      const diff = Math.max(...r.topIds.map((id, k) => Math.abs(stepLogits[0]![i]![id]! - r.topLogits[k]!)));
      expect(diff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    });
  });

  it('with every row in slot 0 it is the plain export', async () => {
    const plain = await CausalLm.load(modelDir('tinygpt'));
    try {
      const c = refs.tinygpt.cases.find((x) => x.prompts.length === 2)!;
      const stack = stackAdapters(lm.spec, []);
      const viaLora = await greedy(lm, promptRows(c), 8, { feeds: { adapter_index: adapterIndex([0, 0]), ...stack.feeds } });
      const viaPlain = await greedy(plain, promptRows(c), 8);
      expect(viaLora.tokens).toEqual(viaPlain.tokens);
      const d = viaLora.stepLogits[0]!.map((l, r) => Math.max(...l.map((v, k) => Math.abs(v - viaPlain.stepLogits[0]![r]![k]!))));
      expect(Math.max(...d)).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    } finally {
      await plain.release();
    }
  });

  it('a pass given only the slots its rows use (LoraPassFeeds) writes what the whole stack writes, row by row', async () => {
    const chat = await loadLoraAdapter(modelDir('tinygpt-chat'), lm.spec);
    const jargon = await loadLoraAdapter(modelDir('tinygpt-jargon'), lm.spec);
    const stack = stackAdapters(lm.spec, [chat, jargon, chat]);
    const pass = new LoraPassFeeds(stack);
    const prompt = [...Buffer.from('<|user|>\nWhat is a hacker?\n<|assistant|>\n')];
    for (const slots of [
      [3, 0, 3],
      [2, 2],
      [1, 3, 2, 0],
    ]) {
      const feeds = pass.feeds(slots);
      expect(feeds['adapter_index']!.dims).toEqual([slots.length]);
      // Only the adapter slots used: [3, 0, 3] runs one, not four (slot 0 is no adapter).
      expect(feeds['lora_A.transformer.h.0.attn.c_attn']!.dims[0]).toBe(new Set(slots.filter((s) => s !== 0)).size);
      const prompts = slots.map(() => prompt);
      const compacted = await greedy(lm, prompts, 6, { feeds });
      const whole = await greedy(lm, prompts, 6, { feeds: { adapter_index: adapterIndex(slots), ...stack.feeds } });
      expect(compacted.tokens).toEqual(whole.tokens);
      const d = compacted.stepLogits.flatMap((step, t) => step.map((l, r) => Math.max(...l.map((v, k) => Math.abs(v - whole.stepLogits[t]![r]![k]!)))));
      expect(Math.max(...d)).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    }
    // The same set of slots, in any row order, reuses its compacted tensors.
    expect(pass.feeds([3, 0])['lora_B.transformer.h.0.mlp.c_fc']).toBe(pass.feeds([0, 3])['lora_B.transformer.h.0.mlp.c_fc']);
  });
});
