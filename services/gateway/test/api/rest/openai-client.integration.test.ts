import Ajv from 'ajv';
import OpenAI, { APIError } from 'openai';

import { restApi } from '../../../src/api/rest/rest-api';
import { fakeFeedback, listen } from '../../fakes';
import { inMemoryMesh } from '../../in-memory-mesh';

/** A stop string that occurs in `text` past its start: two non-space characters. */
function stopIn(text: string): string {
  const i = text.slice(3).search(/\S\S/);
  expect(i).toBeGreaterThanOrEqual(0);
  return text.slice(i + 3, i + 5);
}

/** The official `openai` npm client against the gateway's REST API (real HTTP, in-memory mesh). */
describe('OpenAI client against the gateway', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  let base: string;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let client: OpenAI;

  beforeAll(async () => {
    mesh = await inMemoryMesh();
    http = await listen(restApi({ upstreams: mesh.upstreams, feedback: fakeFeedback(), bodyLimitBytes: 64 * 1024 }));
    base = http.base;
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
  });
  afterAll(async () => {
    await http.close();
    await mesh.close();
  });

  /** The tokenizer's own count for a prompt or chat, through POST /tokenize. */
  const tokenCount = async (body: unknown): Promise<number> => {
    const res = await fetch(`${base}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { count: number }).count;
  };

  const PROMPT = 'The quick brown fox';
  const MESSAGES: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say something about foxes.' },
  ];

  it('lists the served models through client.models.list()', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(['tinyllama', 'tinyllama@1']);
  });

  it('retrieves one model through client.models.retrieve(); an unknown one is the client’s NotFoundError', async () => {
    expect(await client.models.retrieve('tinyllama')).toMatchObject({ id: 'tinyllama', object: 'model', owned_by: 'tokenmesh', context_length: 512 });
    expect((await client.models.retrieve('tinyllama@1')).id).toBe('tinyllama@1');
    const err = await client.models.retrieve('tinygpt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, param: 'model', code: 'model_not_found' });
  });

  describe('completions', () => {
    it('answers a text_completion whose usage is the tokenizer count and max_tokens on a length finish', async () => {
      const { data, response } = await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 8, temperature: 0 }).withResponse();
      const promptTokens = await tokenCount({ prompt: PROMPT });
      expect(data.object).toBe('text_completion');
      expect(data.model).toBe('tinyllama@1');
      expect(data.choices).toHaveLength(1);
      expect(data.choices[0]!.finish_reason).toBe('length');
      expect(data.choices[0]!.text.length).toBeGreaterThan(0);
      expect(data.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 });
      // The pipeline tells the edge whether the cache answered; without a cache, always a miss.
      expect(response.headers.get('x-tokenmesh-cache')).toBe('miss');
      expect(data.id).toBe(`cmpl-${response.headers.get('x-request-id')}`);
    });

    it('streams the same text, with one usage chunk (choices []) last exactly when include_usage is true', async () => {
      const plain = await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 8, temperature: 0 });
      const promptTokens = await tokenCount({ prompt: PROMPT });

      const withUsage: OpenAI.Completion[] = [];
      for await (const c of await client.completions.create({
        model: 'tinyllama',
        prompt: PROMPT,
        max_tokens: 8,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }))
        withUsage.push(c);
      const last = withUsage.at(-1)!;
      // Every chunk names what served it, as the non-streamed answer does.
      expect(new Set(withUsage.map((c) => c.model))).toEqual(new Set(['tinyllama@1']));
      expect(last.choices).toEqual([]);
      expect(last.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 });
      expect(withUsage.slice(0, -1).every((c) => c.usage === null && c.choices.length === 1)).toBe(true);
      expect(withUsage.map((c) => c.choices[0]?.text ?? '').join('')).toBe(plain.choices[0]!.text);
      expect(withUsage.at(-2)!.choices[0]!.finish_reason).toBe('length');

      const without: OpenAI.Completion[] = [];
      for await (const c of await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 8, temperature: 0, stream: true }))
        without.push(c);
      expect(without.some((c) => 'usage' in c)).toBe(false);
      expect(without.every((c) => c.choices.length === 1 && c.object === 'text_completion')).toBe(true);
      expect(without.map((c) => c.choices[0]!.text).join('')).toBe(plain.choices[0]!.text);
      expect(without.at(-1)!.choices[0]!.finish_reason).toBe('length');
    });

    it('a prompt array gets one choice per prompt, each the text that prompt alone gets, usage summed; streamed too', async () => {
      const prompts = [PROMPT, 'The Jargon File', 'And God said'];
      const alone = await Promise.all(prompts.map((prompt) => client.completions.create({ model: 'tinyllama', prompt, max_tokens: 6, temperature: 0 })));
      const many = await client.completions.create({ model: 'tinyllama', prompt: prompts, max_tokens: 6, temperature: 0 });
      expect(many.choices.map((c) => [c.index, c.text, c.finish_reason])).toEqual(alone.map((a, i) => [i, a.choices[0]!.text, a.choices[0]!.finish_reason]));
      const sum = (k: 'prompt_tokens' | 'completion_tokens' | 'total_tokens') => alone.reduce((n, a) => n + a.usage![k], 0);
      expect(many.usage).toEqual({ prompt_tokens: sum('prompt_tokens'), completion_tokens: sum('completion_tokens'), total_tokens: sum('total_tokens') });
      // A one-element array (what LangChain always sends) is the plain prompt.
      expect((await client.completions.create({ model: 'tinyllama', prompt: [PROMPT], max_tokens: 6, temperature: 0 })).choices).toEqual(alone[0]!.choices);

      const chunks: OpenAI.Completion[] = [];
      for await (const c of await client.completions.create({
        model: 'tinyllama',
        prompt: prompts,
        max_tokens: 6,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }))
        chunks.push(c);
      expect(chunks.at(-1)!.usage).toEqual(many.usage);
      for (const [i, a] of alone.entries()) {
        const mine = chunks.flatMap((c) => c.choices.filter((x) => x.index === i));
        expect(mine.map((x) => x.text).join('')).toBe(a.choices[0]!.text);
        expect(mine.at(-1)!.finish_reason).toBe(a.choices[0]!.finish_reason);
      }
    });

    it('token-id prompts (an array of ids, or of arrays) answer as the same prompt given as text', async () => {
      const ids = [...Buffer.from(PROMPT)];
      const asText = await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 8, temperature: 0 });
      const asIds = await client.completions.create({ model: 'tinyllama', prompt: ids, max_tokens: 8, temperature: 0 });
      expect(asIds.choices.map((c) => c.text)).toEqual([asText.choices[0]!.text]);
      expect(asIds.usage).toEqual(asText.usage);
      const two = await client.completions.create({ model: 'tinyllama', prompt: [ids, [...Buffer.from('Foxes')]], max_tokens: 8, temperature: 0 });
      const foxes = await client.completions.create({ model: 'tinyllama', prompt: 'Foxes', max_tokens: 8, temperature: 0 });
      expect(two.choices.map((c) => c.text)).toEqual([asText.choices[0]!.text, foxes.choices[0]!.text]);
      // The tokenizer checks each prompt's ids: a bad one names its prompt (the others are cancelled).
      const bad = (await client.completions.create({ model: 'tinyllama', prompt: [ids, [1, 999]], max_tokens: 8 }).catch((e: unknown) => e)) as APIError;
      expect(bad).toMatchObject({ status: 400, param: 'prompt[1][1]' });
    });

    it('presence and frequency penalties change a greedy answer, and are deterministic', async () => {
      const ask = (extra: Partial<OpenAI.CompletionCreateParamsNonStreaming>) =>
        client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 24, temperature: 0, ...extra }).then((r) => r.choices[0]!.text);
      const plain = await ask({});
      const penalised = await ask({ frequency_penalty: 2, presence_penalty: 2 });
      expect(penalised).not.toBe(plain);
      expect(await ask({ frequency_penalty: 2, presence_penalty: 2 })).toBe(penalised);
      expect(await ask({ frequency_penalty: 0, presence_penalty: 0 })).toBe(plain);
    });

    it('logit_bias: +100 makes every token the biased one, -100 bans the greedy choice', async () => {
      const ask = (logit_bias?: Record<string, number>) =>
        client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 6, temperature: 0, ...(logit_bias && { logit_bias }) });
      const forced = await ask({ '65': 100 });
      const detok = await fetch(`${base}/detokenize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tokens: [65, 65, 65, 65, 65, 65] }),
      });
      expect(forced.choices[0]!.text).toBe(((await detok.json()) as { prompt: string }).prompt);
      const plain = (await ask()).choices[0]!.text;
      const tokenized = await fetch(`${base}/tokenize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: PROMPT + plain, add_special_tokens: false }),
      });
      const ids = ((await tokenized.json()) as { tokens: number[] }).tokens;
      const first = ids[await tokenCount({ prompt: PROMPT, add_special_tokens: false })]!;
      expect((await ask({ [String(first)]: -100 })).choices[0]!.text).not.toBe(plain);
    });

    it('ends at a stop string (string or list) with finish_reason stop, the stop string left out', async () => {
      const full = (await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 32, temperature: 0 })).choices[0]!.text;
      const stop = stopIn(full);
      const expected = full.slice(0, full.indexOf(stop));
      const one = await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 32, temperature: 0, stop });
      expect(one.choices[0]).toMatchObject({ text: expected, finish_reason: 'stop' });
      expect(one.usage!.completion_tokens).toBeLessThan(32);

      let streamed = '';
      let finish: string | null = null;
      for await (const c of await client.completions.create({
        model: 'tinyllama',
        prompt: PROMPT,
        max_tokens: 32,
        temperature: 0,
        stop: ['never appears §', stop],
        stream: true,
      })) {
        streamed += c.choices[0]?.text ?? '';
        finish = c.choices[0]?.finish_reason ?? finish;
      }
      expect(streamed).toBe(expected);
      expect(finish).toBe('stop');
    });

    it('a seed makes sampling reproducible; top_k 1 (an extra field) is greedy at any temperature', async () => {
      const params = { model: 'tinyllama', prompt: PROMPT, max_tokens: 12, temperature: 1.5, seed: 1234, user: 'alice' };
      const a = await client.completions.create(params);
      const b = await client.completions.create(params);
      expect(a.choices[0]!.text).toBe(b.choices[0]!.text);

      const greedy = (await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 12, temperature: 0 })).choices[0]!.text;
      const topK1 = await client.completions.create({
        model: 'tinyllama',
        prompt: PROMPT,
        max_tokens: 12,
        temperature: 1.5,
        top_k: 1,
        min_p: 0.05,
        repetition_penalty: 1,
      } as OpenAI.CompletionCreateParamsNonStreaming);
      expect(topK1.choices[0]!.text).toBe(greedy);
    });

    it('n: 3 gives three choices, choice j the answer of the seed + j alone; with prompts, n per prompt in order', async () => {
      const ask = (seed: number) =>
        client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 8, temperature: 1, seed }).then((r) => r.choices[0]!.text);
      const three = await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 8, temperature: 1, seed: 7, n: 3 });
      expect(three.choices.map((c) => c.index)).toEqual([0, 1, 2]);
      expect(three.choices.map((c) => c.text)).toEqual([await ask(7), await ask(8), await ask(9)]);
      expect(new Set(three.choices.map((c) => c.text)).size).toBeGreaterThan(1);
      const greedy = async (prompt: string) =>
        (await client.completions.create({ model: 'tinyllama', prompt, max_tokens: 4, temperature: 0 })).choices[0]!.text;
      const grid = await client.completions.create({ model: 'tinyllama', prompt: [PROMPT, 'And God said'], max_tokens: 4, temperature: 0, n: 2 });
      const [a, b] = [await greedy(PROMPT), await greedy('And God said')];
      expect(grid.choices.map((c) => [c.index, c.text])).toEqual([
        [0, a],
        [1, a],
        [2, b],
        [3, b],
      ]);
    });

    it('the n choices of a prompt reach the worker together and share one prefill pass, streamed or not', async () => {
      for (const stream of [false, true]) {
        const prefills: [number, number][] = [];
        const offs = mesh.repo.models[0]!.runners.map((r) => r.onStep((st) => void (st.prefillBatch > 0 && prefills.push([st.prefillBatch, st.prefillRows]))));
        try {
          const ask = { model: 'tinyllama', prompt: `${PROMPT} ${stream}`, max_tokens: 4, temperature: 1, seed: 3, n: 4 };
          if (stream) for await (const c of await client.completions.create({ ...ask, stream: true })) void c;
          else expect((await client.completions.create(ask)).choices).toHaveLength(4);
        } finally {
          offs.forEach((off) => off());
        }
        // One pass: four sequences, one row of the prompt.
        expect([stream, prefills]).toEqual([stream, [[4, 1]]]);
      }
    });

    it('echo: the prompt, then the completion; streamed as a first chunk of the prompt', async () => {
      const plain = (await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 6, temperature: 0 })).choices[0]!.text;
      const echoed = await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 6, temperature: 0, echo: true });
      expect(echoed.choices[0]!.text).toBe(PROMPT + plain);
      const chunks: string[] = [];
      for await (const c of await client.completions.create({ model: 'tinyllama', prompt: PROMPT, max_tokens: 6, temperature: 0, echo: true, stream: true }))
        chunks.push(c.choices[0]?.text ?? '');
      expect(chunks[0]).toBe(PROMPT);
      expect(chunks.join('')).toBe(PROMPT + plain);
      const two = await client.completions.create({ model: 'tinyllama', prompt: [PROMPT, 'And'], max_tokens: 2, temperature: 0, echo: true });
      expect(two.choices.map((c) => c.text.startsWith(c.index === 0 ? PROMPT : 'And'))).toEqual([true, true]);
    });

    it('rejections surface as the client’s BadRequestError with param and code', async () => {
      const before = mesh.workerCalls();
      const err = (await client.completions.create({ model: 'tinyllama', prompt: PROMPT, n: 17 }).catch((e: unknown) => e)) as APIError;
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, param: 'n', type: 'invalid_request_error' });
      const unknown = (await client.completions.create({ model: 'gpt-9', prompt: PROMPT }).catch((e: unknown) => e)) as APIError;
      expect(unknown).toMatchObject({ status: 400, param: 'model', code: 'model_not_found' });
      expect(mesh.workerCalls()).toBe(before);
    });
  });

  describe('chat completions', () => {
    it('n: 2 gives two choices, streamed with a role opening and content for each index', async () => {
      const whole = await client.chat.completions.create({ model: 'tinyllama', messages: MESSAGES, max_tokens: 8, temperature: 1, seed: 3, n: 2 });
      expect(whole.choices.map((c) => [c.index, c.message.role])).toEqual([
        [0, 'assistant'],
        [1, 'assistant'],
      ]);
      const parts = ['', ''];
      const roles: number[] = [];
      for await (const c of await client.chat.completions.create({
        model: 'tinyllama',
        messages: MESSAGES,
        max_tokens: 8,
        temperature: 1,
        seed: 3,
        n: 2,
        stream: true,
      })) {
        for (const ch of c.choices) {
          if (ch.delta.role) roles.push(ch.index);
          parts[ch.index] += ch.delta.content ?? '';
        }
      }
      expect(roles.sort()).toEqual([0, 1]);
      expect(parts).toEqual(whole.choices.map((c) => c.message.content));
    });

    it('answers a chat.completion with the assistant message; prompt tokens are the chat template’s', async () => {
      const { data, response } = await client.chat.completions
        .create({ model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 8, temperature: 0 })
        .withResponse();
      const promptTokens = await tokenCount({ messages: MESSAGES });
      // The template adds role markers: more tokens than the contents alone.
      expect(promptTokens).toBeGreaterThan(await tokenCount({ prompt: MESSAGES.map((m) => m.content).join('') }));
      expect(data.object).toBe('chat.completion');
      expect(data.id).toBe(`chatcmpl-${response.headers.get('x-request-id')}`);
      expect(data.choices).toHaveLength(1);
      expect(data.choices[0]!.message).toEqual({ role: 'assistant', content: expect.any(String) });
      expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
      expect(data.choices[0]!.finish_reason).toBe('length');
      expect(data.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 });
      expect(response.headers.get('x-tokenmesh-cache')).toBe('miss');
    });

    it('streams chat.completion.chunk deltas: the role first, the same content, usage only when asked', async () => {
      const plain = await client.chat.completions.create({ model: 'tinyllama', messages: MESSAGES, max_tokens: 8, temperature: 0 });
      const promptTokens = await tokenCount({ messages: MESSAGES });

      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const c of await client.chat.completions.create({
        model: 'tinyllama',
        messages: MESSAGES,
        max_tokens: 8,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }))
        chunks.push(c);
      expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
      expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
      const usageChunks = chunks.filter((c) => c.usage);
      expect(usageChunks).toHaveLength(1);
      expect(chunks.at(-1)).toBe(usageChunks[0]);
      expect(chunks.at(-1)!.choices).toEqual([]);
      expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: promptTokens, completion_tokens: 8, total_tokens: promptTokens + 8 });
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(plain.choices[0]!.message.content);
      expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');

      const without: OpenAI.ChatCompletionChunk[] = [];
      for await (const c of await client.chat.completions.create({
        model: 'tinyllama',
        messages: MESSAGES,
        max_tokens: 8,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: false },
      }))
        without.push(c);
      expect(without.some((c) => 'usage' in c)).toBe(false);
      expect(without.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe(plain.choices[0]!.message.content);
      expect(without.at(-1)!.choices[0]!.finish_reason).toBe('length');
    });

    it('applies stop strings, seed, user and the extra sampling fields to chat too', async () => {
      const full = (await client.chat.completions.create({ model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 32, temperature: 0 })).choices[0]!
        .message.content!;
      const stop = stopIn(full);
      const stopped = await client.chat.completions.create({ model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 32, temperature: 0, stop: [stop] });
      expect(stopped.choices[0]!.message.content).toBe(full.slice(0, full.indexOf(stop)));
      expect(stopped.choices[0]!.finish_reason).toBe('stop');

      const seeded = { model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 10, temperature: 1.2, top_p: 0.9, seed: 7, user: 'bob' };
      const a = await client.chat.completions.create(seeded);
      const b = await client.chat.completions.create(seeded);
      expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);

      const topK1 = await client.chat.completions.create({
        model: 'tinyllama',
        messages: MESSAGES,
        max_completion_tokens: 32,
        temperature: 1.5,
        top_k: 1,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      expect(topK1.choices[0]!.message.content).toBe(full);
    });

    it('rejects a bad role through the client as a 400 naming messages[i].role, without calling a worker', async () => {
      const before = mesh.workerCalls();
      const err = (await client.chat.completions
        .create({ model: 'tinyllama', messages: [{ role: 'wizard', content: 'hi' } as unknown as OpenAI.ChatCompletionMessageParam] })
        .catch((e: unknown) => e)) as APIError;
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.param).toBe('messages[0].role');
      expect(mesh.workerCalls()).toBe(before);
    });
  });
  describe('logprobs', () => {
    it('completions logprobs: k — tokens that make the text, their log-probabilities, k alternatives, offsets; streamed the same', async () => {
      const ask = { model: 'tinyllama', prompt: PROMPT, max_tokens: 12, temperature: 0, logprobs: 3 };
      const r = await client.completions.create(ask);
      const lp = r.choices[0]!.logprobs!;
      expect(lp.tokens!.join('')).toBe(r.choices[0]!.text);
      expect(lp.tokens).toHaveLength(r.usage!.completion_tokens);
      expect(lp.token_logprobs!.every((l) => l <= 0)).toBe(true);
      lp.top_logprobs!.forEach((top, i) => {
        // The alternatives and the chosen token; greedy: the chosen one is the likeliest.
        expect(Object.keys(top).length).toBeGreaterThanOrEqual(1);
        expect(Object.keys(top).length).toBeLessThanOrEqual(4);
        expect(top[lp.tokens![i]!]).toBeCloseTo(lp.token_logprobs![i]!, 5);
        expect(Math.max(...Object.values(top))).toBeCloseTo(lp.token_logprobs![i]!, 5);
      });
      // Each offset is where that token's text starts (tinyllama writes random bytes: U+FFFD included).
      const text = r.choices[0]!.text;
      lp.text_offset!.forEach((o, i) => {
        if (lp.tokens![i] !== '\ufffd') expect([i, text.slice(o, o + lp.tokens![i]!.length)]).toEqual([i, lp.tokens![i]]);
      });
      expect(lp.text_offset![0]).toBe(0);
      const streamed = { tokens: [] as string[], token_logprobs: [] as number[], text_offset: [] as number[] };
      for await (const c of await client.completions.create({ ...ask, stream: true })) {
        const l = c.choices[0]?.logprobs;
        if (!l) continue;
        streamed.tokens.push(...l.tokens!);
        streamed.token_logprobs.push(...l.token_logprobs!);
        streamed.text_offset.push(...l.text_offset!);
      }
      expect(streamed).toEqual({ tokens: lp.tokens, token_logprobs: lp.token_logprobs, text_offset: lp.text_offset });
      // Asked for nothing: null, as OpenAI's.
      expect((await client.completions.create({ ...ask, logprobs: undefined })).choices[0]!.logprobs).toBeNull();
    });

    it('chat logprobs with top_logprobs — content entries whose bytes make the answer, streamed the same', async () => {
      const ask = { model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2 };
      const r = await client.chat.completions.create(ask);
      const content = r.choices[0]!.logprobs!.content!;
      expect(Buffer.from(content.flatMap((t) => t.bytes!)).toString('utf8')).toBe(r.choices[0]!.message.content);
      for (const t of content) {
        expect(t.top_logprobs).toHaveLength(2);
        expect(t.top_logprobs[0]!.logprob).toBeCloseTo(t.logprob, 5);
        expect(t.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(t.top_logprobs[1]!.logprob);
      }
      const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
      for await (const c of await client.chat.completions.create({ ...ask, stream: true })) streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
      expect(streamed).toEqual(content);
      const plain = await client.chat.completions.create({ ...ask, logprobs: false, top_logprobs: undefined });
      expect(plain.choices[0]!.logprobs).toBeNull();
    });

    it('end-of-text is no token of the content and makes no empty delta', async () => {
      // logit_bias +100 on end-of-text: the answer ends at its first token.
      const ask = { model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 5, logprobs: true, logit_bias: { '256': 100 } };
      const chunks: OpenAI.ChatCompletionChunk[] = [];
      for await (const c of await client.chat.completions.create({ ...ask, stream: true })) chunks.push(c);
      expect(chunks.map((c) => [c.choices[0]!.delta, c.choices[0]!.finish_reason])).toEqual([
        [{ role: 'assistant', content: '' }, null],
        [{}, 'stop'],
      ]);
      const whole = await client.chat.completions.create(ask);
      expect(whole.choices[0]!.logprobs).toEqual({ content: [], refusal: null });
    });

    it('refuses top_logprobs without logprobs, and counts over 20, as 400s naming the field', async () => {
      const chat = (await client.chat.completions.create({ model: 'tinyllama', messages: MESSAGES, top_logprobs: 2 }).catch((e: unknown) => e)) as APIError;
      expect(chat).toMatchObject({ status: 400, param: 'top_logprobs' });
      const completion = (await client.completions.create({ model: 'tinyllama', prompt: PROMPT, logprobs: 21 }).catch((e: unknown) => e)) as APIError;
      expect(completion).toMatchObject({ status: 400, param: 'logprobs' });
    });
  });

  describe('structured output (response_format: guided decoding in the worker)', () => {
    const ajv = new Ajv({ strict: false });
    const SCHEMA = {
      type: 'object',
      properties: {
        city: { type: 'string', minLength: 1, maxLength: 16 },
        population: { type: 'integer' },
        coastal: { type: 'boolean' },
        rivers: { type: 'array', items: { type: 'string', maxLength: 10 }, maxItems: 3 },
        size: { enum: ['small', 'large'] },
      },
      required: ['city', 'population', 'size'],
      additionalProperties: false,
    };
    const format = { type: 'json_schema', json_schema: { name: 'city', strict: true, schema: SCHEMA } } as const;
    const valid = (content: string | null | undefined): unknown => {
      const doc: unknown = JSON.parse(content ?? '');
      expect([ajv.validate(SCHEMA, doc), ajv.errorsText(ajv.errors)]).toEqual([true, 'No errors']);
      return doc;
    };

    it('chat json_schema: the content parses and validates, sampled or greedy, streamed the same as not', async () => {
      for (const [temperature, seed] of [
        [0, undefined],
        [1, 3],
        [1.3, 11],
      ] as const) {
        const ask = { model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 96, temperature, seed, response_format: format };
        const whole = await client.chat.completions.create(ask);
        valid(whole.choices[0]!.message.content);
        expect(['stop', 'length']).toContain(whole.choices[0]!.finish_reason);
        let streamed = '';
        for await (const c of await client.chat.completions.create({ ...ask, stream: true })) streamed += c.choices[0]?.delta.content ?? '';
        expect(streamed).toBe(whole.choices[0]!.message.content);
      }
    });

    it('json_object gives an object; without max_tokens a guided request gets what fits, not 16 tokens', async () => {
      const r = await client.chat.completions.create({
        model: 'tinyllama',
        messages: MESSAGES,
        temperature: 0.8,
        seed: 1,
        response_format: { type: 'json_object' },
      });
      const doc: unknown = JSON.parse(r.choices[0]!.message.content!);
      expect(typeof doc === 'object' && doc !== null && !Array.isArray(doc)).toBe(true);
      const guided = await client.chat.completions.create({ model: 'tinyllama', messages: MESSAGES, temperature: 0, response_format: format });
      valid(guided.choices[0]!.message.content);
      expect(guided.usage!.completion_tokens).toBeGreaterThan(16);
    });

    it('completions take response_format too (as vLLM), with n choices each valid', async () => {
      const r = await client.completions.create({
        model: 'tinyllama',
        prompt: PROMPT,
        max_tokens: 80,
        temperature: 1,
        seed: 5,
        n: 3,
        response_format: format,
      } as OpenAI.CompletionCreateParamsNonStreaming);
      expect(r.choices).toHaveLength(3);
      for (const c of r.choices) valid(c.text);
    });

    it.each([
      [
        'a keyword it cannot enforce',
        { ...format, json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } },
        'response_format.json_schema.schema',
        /"pattern" is not supported/,
      ],
      [
        'a schema that is not an object',
        { ...format, json_schema: { name: 'x', schema: 'string' } },
        'response_format.json_schema.schema',
        /must be a JSON Schema object/,
      ],
      ['json_schema without a name', { type: 'json_schema', json_schema: { schema: SCHEMA } }, 'response_format.json_schema.name', /must be a string/],
      ['an unknown type', { type: 'yaml' }, 'response_format.type', /must be one of/],
    ])('refuses %s as a 400 naming the field, before any worker runs', async (_, response_format, param, message) => {
      const before = mesh.workerCalls();
      const err = (await client.chat.completions
        .create({ model: 'tinyllama', messages: MESSAGES, response_format } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
        .catch((e: unknown) => e)) as APIError;
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.param).toBe(param);
      expect(err.message).toMatch(message);
      expect(mesh.workerCalls()).toBe(before);
    });

    it('a max_completion_tokens below the schema’s shortest document is a 400 naming it and the figure', async () => {
      const err = (await client.chat.completions
        .create({ model: 'tinyllama', messages: MESSAGES, max_completion_tokens: 10, response_format: format })
        .catch((e: unknown) => e)) as APIError;
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.param).toBe('max_completion_tokens');
      expect(err.message).toMatch(/must be at least 42 with guided_json/);
    });
  });
});
