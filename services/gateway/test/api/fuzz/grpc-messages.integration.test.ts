import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { type Client, Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { InferenceService, PredictRequestSchema, StreamPredictRequestSchema } from '@tokenmesh/proto';
import { grpcJsChannel } from '@tokenmesh/testing';
import fc from 'fast-check';

import { anyString, SEED } from './arbitraries';
import { fuzzGateway } from './fuzz-gateway';

const RUNS = 150;
/** The fields PredictRequest and StreamPredictRequest share (all of them). */
type Request = Omit<MessageInitShape<typeof StreamPredictRequestSchema>, '$typeName'>;

/** float fields at their edges: NaN, ±Infinity, -0, subnormal, float32 max, negative. */
const anyFloat = fc.oneof(fc.float(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, -1, 1, 2.5, 3.4e38, 1e-45));
/** int32 fields at their edges, max_tokens kept small where it is valid so generations stay short. */
const anyInt32 = fc.oneof(fc.integer({ min: -5, max: 4 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 513, 100_000));

/** Each SamplingParams field with arbitrary values (int64 seed over its whole range). */
const SAMPLING = {
  maxTokens: anyInt32,
  temperature: anyFloat,
  topK: anyInt32,
  topP: anyFloat,
  minP: anyFloat,
  repetitionPenalty: anyFloat,
  stop: fc.array(anyString, { maxLength: 6 }),
  seed: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  stopTokenIds: fc.array(fc.oneof(fc.nat({ max: 40_000 }), fc.constant(2 ** 32 - 1)), { maxLength: 4 }),
  logprobs: fc.boolean(),
  topLogprobs: anyInt32,
  presencePenalty: anyFloat,
  frequencyPenalty: anyFloat,
  // Keys are uint32 on the wire: a client cannot send others.
  logitBias: fc.dictionary(fc.oneof(fc.nat({ max: 300 }), fc.constant(2 ** 32 - 1)).map(String), anyFloat, { maxKeys: 3 }),
  // Schemas guided decoding takes, ones it refuses, and text that is no JSON.
  guidedJson: fc.oneof(
    fc.constantFrom('{"type":"object"}', '{"type":"string","maxLength":3}', '{"enum":[1,"a",null]}', '{"type":"string","pattern":"a"}', '{"type":', '[]'),
    anyString,
  ),
};

/** Each PredictRequest (and StreamPredictRequest: the same fields) field with arbitrary values. */
const FIELDS = {
  model: fc.oneof(fc.constantFrom('', 'tinyllama', 'tinyllama@1', 'tinyllama@9', 'tinyllama@'), anyString),
  prompt: fc.oneof(fc.constant('Hello'), anyString),
  messages: fc.array(fc.record({ role: fc.oneof(fc.constantFrom('system', 'user', 'assistant'), anyString), content: anyString }), { maxLength: 3 }),
  sampling: fc.record(SAMPLING, { requiredKeys: ['maxTokens'] }),
  routingKey: anyString,
  requestId: anyString,
  promptTokenIds: fc.array(fc.oneof(fc.nat({ max: 300 }), fc.constant(2 ** 32 - 1)), { maxLength: 4 }),
};

const VALID: Request = { prompt: 'Hello', sampling: { maxTokens: 2 } };

/** Any request (every field arbitrary or absent), or a valid one with one field, or one sampling field, arbitrary. */
const anyRequest: fc.Arbitrary<Request> = fc.oneof(
  fc.record(FIELDS, { requiredKeys: ['sampling'] }),
  fc.oneof(...Object.entries(FIELDS).map(([k, v]) => v.map((x): Request => ({ ...VALID, [k]: x })))),
  fc.oneof(...Object.entries(SAMPLING).map(([k, v]) => v.map((x): Request => ({ ...VALID, sampling: { maxTokens: 2, [k]: x } })))),
);

const VALID_BYTES = toBinary(PredictRequestSchema, create(PredictRequestSchema, { prompt: 'Hello', sampling: { maxTokens: 2 } }));

/** Arbitrary bytes, and the valid message cut short or with one byte changed: mostly malformed, near the real shape. */
const anyBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.nat({ max: VALID_BYTES.length - 1 }).map((n) => VALID_BYTES.slice(0, n)),
  fc.tuple(fc.nat({ max: VALID_BYTES.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
    const b = Uint8Array.from(VALID_BYTES);
    b[at] = byte;
    return b;
  }),
);

/** Codes a caller's bad request may get; INTERNAL, UNKNOWN and the rest would be the gateway's fault. */
const REFUSALS = new Set([Code.InvalidArgument, Code.NotFound, Code.OutOfRange, Code.FailedPrecondition]);
/** A message that starts with the fields it is about, as the gateway's errors do ("sampling.top_p: …"). */
const NAMES_A_FIELD = /^[\w.[\]]+(?:, [\w.[\]]+)*: ./s;

function checkRefusal(err: unknown): void {
  const e = ConnectError.from(err);
  if (!REFUSALS.has(e.code)) throw new Error(`answered ${Code[e.code]}: ${e.rawMessage}`);
  if (!NAMES_A_FIELD.test(e.rawMessage)) throw new Error(`${Code[e.code]} names no field: ${JSON.stringify(e.rawMessage)}`);
}

describe('fuzzing every gRPC / Connect message (fast-check)', () => {
  let gw: Awaited<ReturnType<typeof fuzzGateway>>;
  let connect: Client<typeof InferenceService>;
  let grpcClient: Client<typeof InferenceService>;
  let channel: grpc.Client;
  beforeAll(async () => {
    gw = await fuzzGateway();
    connect = createClient(InferenceService, createConnectTransport({ baseUrl: gw.httpUrl, httpVersion: '1.1' }));
    grpcClient = createClient(InferenceService, createGrpcTransport({ baseUrl: gw.grpcUrl }));
    channel = grpcJsChannel(gw.grpcUrl);
    fc.configureGlobal({ seed: SEED, numRuns: RUNS, endOnFailure: true });
  });
  afterAll(async () => {
    fc.resetConfigureGlobal();
    channel?.close();
    await gw?.close();
  });
  afterEach(async () => {
    // Still serving, and nothing was logged as an unexpected failure.
    const ok = await connect.predict({ prompt: 'Hello', sampling: { maxTokens: 2 } });
    expect(ok.usage?.completionTokens).toBe(2);
    expect(gw.problems.filter((p) => p['level'] === 'error')).toEqual([]);
  });

  it('ListModels over Connect GET (a side-effect-free method): 200 with the models, as a POST answers', async () => {
    const url = `${gw.httpUrl}/tokenmesh.inference.v1.InferenceService/ListModels?connect=v1&encoding=json&message=${encodeURIComponent('{}')}`;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { models: { name: string }[] };
    expect(body.models.map((m) => m.name)).toEqual((await connect.listModels({})).models.map((m) => m.name));
    // A method with side effects has no GET.
    const predict = await fetch(
      `${gw.httpUrl}/tokenmesh.inference.v1.InferenceService/Predict?connect=v1&encoding=json&message=${encodeURIComponent('{"prompt":"x"}')}`,
    );
    expect(predict.status).toBe(405);
  });

  it('Predict over Connect (JSON, HTTP/1.1): any request → OK with text, or a refusal naming its field', async () => {
    const seen = { ok: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(anyRequest, async (req) => {
        try {
          const r = await connect.predict(req);
          if (typeof r.text !== 'string' || !r.model) throw new Error(`malformed answer ${JSON.stringify(r)}`);
          seen.ok++;
        } catch (err) {
          checkRefusal(err);
          seen.refused++;
        }
      }),
    );
    expect({ ok: seen.ok > 0, refused: seen.refused > 0 }).toEqual({ ok: true, refused: true });
  });

  it('StreamPredict over gRPC: any request → deltas then a finish, or a refusal naming its field', async () => {
    const seen = { ok: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(anyRequest, async (req) => {
        try {
          let finished = false;
          for await (const m of grpcClient.streamPredict(req)) {
            if (finished) throw new Error('a message after the finish');
            finished = m.finishReason !== 0;
          }
          if (!finished) throw new Error('the stream ended without a finish');
          seen.ok++;
        } catch (err) {
          checkRefusal(err);
          seen.refused++;
        }
      }),
    );
    expect({ ok: seen.ok > 0, refused: seen.refused > 0 }).toEqual({ ok: true, refused: true });
  });

  /** One unary Predict over grpc-js with `bytes` as the message as is: its status (OK: undefined). */
  const grpcJsPredictBytes = (bytes: Uint8Array) =>
    new Promise<grpc.StatusObject | undefined>((done) =>
      channel.makeUnaryRequest(
        `/${InferenceService.typeName}/Predict`,
        (m: Uint8Array) => Buffer.from(m),
        (r: Buffer) => r,
        bytes,
        new grpc.Metadata(),
        { deadline: Date.now() + 20_000 },
        (err) => done(err ?? undefined),
      ),
    );
  const connectPredictBytes = (contentType: string, bytes: Uint8Array) =>
    fetch(`${gw.httpUrl}/${InferenceService.typeName}/Predict`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'connect-protocol-version': '1' },
      body: Buffer.from(bytes),
    });

  it('Predict over grpc-js: arbitrary bytes as the message → a clean status, never UNKNOWN; the server keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(anyBytes, async (b) => {
        const status = await grpcJsPredictBytes(b);
        if (!status) return;
        if (status.code === grpc.status.INTERNAL || status.code === grpc.status.UNKNOWN || status.code === grpc.status.DEADLINE_EXCEEDED) {
          throw new Error(`grpc-status ${grpc.status[status.code]}: ${status.details}`);
        }
        if (!NAMES_A_FIELD.test(status.details)) throw new Error(`${grpc.status[status.code]} names no field: ${status.details}`);
      }),
    );
  });

  it('Predict over Connect (HTTP/1.1): arbitrary bytes as a binary or a JSON body → never a 5xx', async () => {
    const body = fc.oneof(
      fc.tuple(fc.constant('application/proto'), anyBytes),
      fc.tuple(
        fc.constant('application/json'),
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          anyString.map((s) => Buffer.from(JSON.stringify({ prompt: s, sampling: { maxTokens: 2 } }))),
          fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))),
        ),
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async ([type, b]) => {
        const res = await connectPredictBytes(type, b);
        const text = await res.text();
        if (res.status >= 500) throw new Error(`${res.status} ${text.slice(0, 300)}`);
      }),
    );
  });

  // Found by the properties above (reduced): a message that is not valid protobuf — here the
  // single byte 0x0a, field 1 with its length missing — was INTERNAL "parse binary: premature
  // EOF" over gRPC and HTTP 500 over Connect (libs/server's request-decode-errors fixes it).
  it('malformed protobuf [0x0a] over gRPC → INVALID_ARGUMENT saying the body could not be decoded', async () => {
    const status = await grpcJsPredictBytes(Uint8Array.of(0x0a));
    expect(status?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status?.details).toMatch(/^tokenmesh\.inference\.v1\.PredictRequest: the request body could not be decoded/);
  });
  it('malformed protobuf [0x0a] over Connect → 400 invalid_argument saying the body could not be decoded', async () => {
    const res = await connectPredictBytes('application/proto', Uint8Array.of(0x0a));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 'invalid_argument',
      message: expect.stringMatching(/^tokenmesh\.inference\.v1\.PredictRequest: the request body could not be decoded/) as unknown,
    });
  });
});
