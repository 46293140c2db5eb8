import { resolve } from 'node:path';

import { parseJsonSchema, validateSampling } from '@tokenmesh/model';
import Ajv from 'ajv';

import { Engine, type FinishReason, type GenerationEvent } from '../../src/engine/engine';
import { ModelRunner } from '../../src/engine/model-runner';

const MODELS = resolve(__dirname, '../../../../models');
const ajv = new Ajv({ strict: false });
const PROMPTS = ['In the beginning God created', 'A hacker is a person who', 'The Jargon File', 'kludge: n.'];
const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 20 },
    verse: { type: 'integer' },
    kind: { enum: ['law', 'story', 'song'] },
    words: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 4 },
  },
  required: ['name', 'verse', 'kind'],
  additionalProperties: false,
};

async function generated(events: AsyncIterable<GenerationEvent>): Promise<{ ids: number[]; finish: FinishReason | undefined }> {
  const ids: number[] = [];
  let finish: FinishReason | undefined;
  for await (const e of events) {
    if (e.type === 'token') ids.push(e.tokenId);
    else finish = e.reason;
  }
  return { ids, finish };
}

/** The text of byte-level token ids, end-of-text left out; throws on bytes that are not UTF-8. */
const text = (ids: readonly number[]) => new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(ids.filter((t) => t < 256)));

describe('guided JSON decoding in the worker (tinygpt)', () => {
  let runner: ModelRunner;
  let engine: Engine;
  beforeAll(async () => {
    runner = await ModelRunner.start(resolve(MODELS, 'tinygpt'), { intraOpThreads: 1, executionProviders: ['cpu'], decodeExport: true });
    engine = new Engine(runner);
  });
  afterAll(() => runner.close());

  const request = (i: number, guided: unknown, maxTokens: number, seed?: number) => {
    const promptIds = [...Buffer.from(PROMPTS[i % PROMPTS.length]!, 'utf8')];
    const given = seed === undefined ? { temperature: 0 } : { temperature: 0.9, seed };
    const limits = { promptTokens: promptIds.length, contextLength: runner.spec.contextLength, vocabSize: runner.spec.vocabSize };
    const sampling = validateSampling({ ...given, maxTokens, ...(guided !== undefined && { guidedJson: JSON.stringify(guided) }) }, limits);
    return { promptIds, sampling };
  };

  it('every guided generation parses and validates, greedy or sampled, with a roomy or the tightest budget', async () => {
    const validate = ajv.compile(SCHEMA);
    const shortest = parseJsonSchema(JSON.stringify(SCHEMA)).minBytes;
    expect(shortest).toBe('{"name":"","verse":0,"kind":"law"}'.length);
    const runs = [
      ...PROMPTS.map((_, i) => request(i, SCHEMA, 120)),
      ...PROMPTS.map((_, i) => request(i, SCHEMA, 120, 7 + i)),
      ...PROMPTS.map((_, i) => request(i, SCHEMA, shortest + i, 100 + i)),
      request(0, { type: 'object' }, 60, 5),
      request(1, { type: 'array', items: { type: 'number' }, minItems: 3 }, 40, 6),
    ];
    const out = await Promise.all(runs.map((r, i) => generated(engine.generate({ id: `g-${i}`, ...r }))));
    for (const [i, o] of out.entries()) {
      const doc: unknown = JSON.parse(text(o.ids));
      const schema = JSON.parse(runs[i]!.sampling.guidedJson) as object;
      expect([i, ajv.validate(schema, doc), ajv.errorsText(ajv.errors)]).toEqual([i, true, 'No errors']);
      expect(['eos', 'length']).toContain(o.finish);
    }
    // The tight budgets: the document ends by max_tokens exactly or earlier.
    expect(out.slice(8, 12).every((o, i) => o.ids.length <= shortest + i)).toBe(true);
    expect(validate(JSON.parse(text(out[0]!.ids)))).toBe(true);
    expect(() => request(0, SCHEMA, shortest - 1)).toThrow(`max_tokens: must be at least ${shortest} with guided_json`);
  });

  it('guided rows and free rows share a batch: every row gives its solo output token for token', async () => {
    const specs = Array.from({ length: 8 }, (_, i) =>
      i % 2 === 0 ? request(i, SCHEMA, 80, i % 4 === 0 ? undefined : 40 + i) : request(i, undefined, 24 + i, i === 3 ? 9 : undefined),
    );
    const solo: number[][] = [];
    for (const [i, s] of specs.entries()) solo.push((await generated(engine.generate({ id: `solo-${i}`, ...s }))).ids);
    let widest = 0;
    const off = runner.onStep((r) => (widest = Math.max(widest, r.decodeBatch)));
    try {
      const together = await Promise.all(specs.map((s, i) => generated(engine.generate({ id: `mix-${i}`, ...s }))));
      together.forEach((t, i) => expect([i, t.ids]).toEqual([i, solo[i]]));
    } finally {
      off();
    }
    expect(widest).toBeGreaterThanOrEqual(6);
    // A free row is what it would be without guidance anywhere: not JSON.
    expect(() => JSON.parse(text(solo[1]!))).toThrow();
  });
});
