import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { DecodeResponseSchema, GenerationService, TokenizerService } from '@tokenmesh/proto';

import { type ServerHandle, startServer } from '../src';

// What V8's JSON.parse says of "\u{10437}x" cut after 1 UTF-16 unit: half of a character.
const HALF = 'guided_json: not JSON ("\uD801")';

describe('error messages with half a character (a lone surrogate)', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer({
      host: '127.0.0.1',
      port: 0,
      http1Port: 0,
      routes: (router) => {
        router.service(TokenizerService, {
          decode: () => {
            throw new ConnectError(HALF, Code.InvalidArgument);
          },
          encode: () => create(DecodeResponseSchema, {}) as never,
          async *decodeStream() {},
          tokenBytes: () => ({}),
        });
        router.service(GenerationService, {
          // eslint-disable-next-line require-yield
          async *generate() {
            throw new ConnectError(HALF, Code.InvalidArgument);
          },
          listServedModels: () => ({}),
        });
      },
    });
  });
  afterAll(() => server?.close());

  it.each(['grpc', 'connect'] as const)('end the call with its code and the message, U+FFFD for the half (%s, unary and streaming)', async (protocol) => {
    const transport =
      protocol === 'grpc'
        ? createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` })
        : createConnectTransport({ baseUrl: server.http1Url!, httpVersion: '1.1' });
    const expected = { code: Code.InvalidArgument, rawMessage: 'guided_json: not JSON ("\uFFFD")' };
    const unary = await createClient(TokenizerService, transport)
      .decode({}, { timeoutMs: 5000 })
      .catch((e: unknown) => ConnectError.from(e));
    expect(unary).toMatchObject(expected);
    const streaming = await (async () => {
      for await (const _ of createClient(GenerationService, transport).generate({}, { timeoutMs: 5000 })) void _;
    })().catch((e: unknown) => ConnectError.from(e));
    expect(streaming).toMatchObject(expected);
  });
});
