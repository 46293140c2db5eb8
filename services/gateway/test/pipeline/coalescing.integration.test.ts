import { resolve } from 'node:path';

import { type Client, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type * as grpc from '@grpc/grpc-js';
import { GenerationService, InferenceService } from '@tokenmesh/proto';
import { type ServerHandle, startServer } from '@tokenmesh/server';
import { grpcJsChannel, grpcJsServerStream } from '@tokenmesh/testing';

import { inferenceService } from '../../src/api/grpc/inference-api';
import { restApi } from '../../src/api/rest/rest-api';
import type { Upstreams } from '../../src/pipeline/generate-text';
import { fakeFeedback } from '../fakes';
import { inMemoryMesh } from '../in-memory-mesh';

const TINYGPT = resolve(__dirname, '../../../../models/tinygpt');

/** A router client that splits every message into one message per token: the uncoalesced stream. */
function oneTokenPerMessage(real: Client<typeof GenerationService>): Client<typeof GenerationService> {
  return {
    ...real,
    generate(req, opts) {
      return (async function* () {
        for await (const m of real.generate(req, opts)) {
          const last = m.tokenIds.length - 1;
          for (const [i, id] of m.tokenIds.entries()) {
            yield i === last ? { ...m, tokenIds: [id] } : { ...m, tokenIds: [id], finishReason: 0, usage: undefined, timings: undefined };
          }
          if (last < 0) yield m;
        }
      })();
    },
  };
}

/** A gateway (REST, gRPC, Connect) in front of `up`, on free loopback ports. */
async function gateway(
  up: Upstreams,
): Promise<{ server: ServerHandle; connect: Client<typeof InferenceService>; grpc: grpc.Client; close: () => Promise<void> }> {
  const server = await startServer({
    port: 0,
    host: '127.0.0.1',
    http1Port: 0,
    routes: (r) => r.service(InferenceService, inferenceService(up)),
    http: restApi({ upstreams: up, feedback: fakeFeedback(), bodyLimitBytes: 1 << 16 }),
  });
  const channel = grpcJsChannel(server.url);
  return {
    server,
    connect: createClient(InferenceService, createConnectTransport({ baseUrl: server.http1Url!, httpVersion: '1.1', useBinaryFormat: false })),
    grpc: channel,
    close: async () => {
      channel.close();
      await server.close(1000);
    },
  };
}

interface Answer {
  readonly text: string;
  readonly finish: string;
  readonly completionTokens: number;
  /** Text chunks the client received (streams). */
  readonly chunks: number;
}

type Sampling = { maxTokens: number; temperature: number; seed?: bigint; stop?: string[] };

async function sse(base: string, prompt: string, s: Sampling): Promise<Answer> {
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt,
      max_tokens: s.maxTokens,
      temperature: s.temperature,
      seed: s.seed === undefined ? undefined : Number(s.seed),
      stop: s.stop,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  const events = (await res.text())
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
  const choices = events.flatMap((e) => e['choices'] as { text: string; finish_reason: string | null }[]);
  const texts = choices.map((c) => c.text).filter(Boolean);
  const usage = events.at(-1)!['usage'] as { completion_tokens: number };
  return { text: texts.join(''), finish: choices.at(-1)!.finish_reason!, completionTokens: usage.completion_tokens, chunks: texts.length };
}

async function rest(base: string, prompt: string, s: Sampling): Promise<Answer> {
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt,
      max_tokens: s.maxTokens,
      temperature: s.temperature,
      seed: s.seed === undefined ? undefined : Number(s.seed),
      stop: s.stop,
    }),
  });
  const body = (await res.json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number } };
  return { text: body.choices[0]!.text, finish: body.choices[0]!.finish_reason, completionTokens: body.usage.completion_tokens, chunks: 1 };
}

async function streamed(messages: AsyncIterable<{ text: string; finishReason: number; usage?: { completionTokens: number } | undefined }>): Promise<Answer> {
  let text = '';
  let chunks = 0;
  let finish = 0;
  let tokens = 0;
  for await (const m of messages) {
    if (m.text) {
      text += m.text;
      chunks++;
    }
    if (m.finishReason) finish = m.finishReason;
    if (m.usage) tokens = m.usage.completionTokens;
  }
  return { text, finish: String(finish), completionTokens: tokens, chunks };
}

describe.each([
  ['detokenized in the gateway', true],
  ['detokenized by the tokenizer service', false],
])('coalesced streams (%s) carry what one token per message carries', (_label, localDecoding) => {
  let plainMesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let heldMesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let plain: Awaited<ReturnType<typeof gateway>>;
  let held: Awaited<ReturnType<typeof gateway>>;

  beforeAll(async () => {
    plainMesh = await inMemoryMesh(TINYGPT, { localDecoding });
    // Every message after the first waits 30 ms for more tokens, as under load.
    heldMesh = await inMemoryMesh(TINYGPT, { localDecoding, holdMs: () => 30 });
    plain = await gateway({ ...plainMesh.upstreams, router: oneTokenPerMessage(plainMesh.upstreams.router) });
    held = await gateway(heldMesh.upstreams);
  });
  afterAll(async () => {
    await plain?.close();
    await held?.close();
    await plainMesh?.close();
    await heldMesh?.close();
  });

  const prompt = 'And God said, Let there be light';
  const answers = async (g: Awaited<ReturnType<typeof gateway>>, s: Sampling) => {
    const sampling = { maxTokens: s.maxTokens, temperature: s.temperature, seed: s.seed, stop: s.stop ?? [] };
    return {
      sse: await sse(g.server.http1Url!, prompt, s),
      rest: await rest(g.server.http1Url!, prompt, s),
      grpc: await streamed(grpcJsServerStream(g.grpc, InferenceService.method.streamPredict, { prompt, sampling })),
      connect: await streamed(g.connect.streamPredict({ prompt, sampling })),
    };
  };

  it.each([
    ['greedy', { maxTokens: 48, temperature: 0 }],
    ['seeded', { maxTokens: 48, temperature: 0.9, seed: 7n }],
  ] as const)('%s: the same text, finish reason and usage over SSE, REST, gRPC and Connect; fewer chunks when held', async (_name, s) => {
    const a = await answers(plain, s);
    const b = await answers(held, s);
    for (const p of ['sse', 'rest', 'grpc', 'connect'] as const) {
      expect([p, b[p].text, b[p].finish, b[p].completionTokens]).toEqual([p, a[p].text, a[p].finish, a[p].completionTokens]);
    }
    // Every front end gives the same answer, and the held streams really were coalesced.
    expect(new Set(Object.values(a).map((x) => x.text)).size).toBe(1);
    expect(a.sse.chunks).toBeGreaterThan(b.sse.chunks);
    expect(b.sse.chunks).toBeLessThan(b.sse.completionTokens);
  });

  it('a stop string cuts at the same place, with the same usage, wherever message boundaries fall', async () => {
    const s = { maxTokens: 48, temperature: 0 };
    const full = (await answers(plain, s)).sse.text;
    // A stop string from the middle of the output, so tokens follow it in the same held message.
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 3);
    const cut = full.slice(0, full.indexOf(stop));
    const a = await answers(plain, { ...s, stop: [stop] });
    const b = await answers(held, { ...s, stop: [stop] });
    for (const p of ['sse', 'rest', 'grpc', 'connect'] as const) {
      expect([p, a[p].text]).toEqual([p, cut]);
      expect([p, b[p].text, b[p].finish, b[p].completionTokens]).toEqual([p, a[p].text, a[p].finish, a[p].completionTokens]);
    }
    expect(a.sse.finish).toBe('stop');
    expect(a.sse.completionTokens).toBeLessThan(48);
  });
});
