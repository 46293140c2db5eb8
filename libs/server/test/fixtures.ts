import { setTimeout as sleep } from 'node:timers/promises';

import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import {
  DecodeRequestSchema,
  type DecodeResponse,
  DecodeResponseSchema,
  GenerateRequestSchema,
  type GenerateResponse,
  GenerateResponseSchema,
  GenerationService,
  TokenizerService,
} from '@tokenmesh/proto';

/** How the test services behave. */
export interface TestServiceOptions {
  /** Pause before each streamed chunk. */
  chunkDelayMs?: number;
  /** Keep streaming when the server cancels, like a handler that forgot to check its signal. */
  ignoreAbort?: boolean;
  /** Called with the reason when a handler's signal aborts. */
  onAbort?: (reason: unknown) => void;
}

/**
 * Two small services: TokenizerService.Decode joins the ids ("1,2,3"; none → InvalidArgument),
 * GenerationService.Generate streams one chunk per prompt token id.
 */
export function testRoutes({ chunkDelayMs = 0, ignoreAbort = false, onAbort }: TestServiceOptions = {}) {
  return (router: ConnectRouter): void => {
    router.service(TokenizerService, {
      decode(req) {
        if (req.tokenIds.length === 0) throw new ConnectError('no token ids', Code.InvalidArgument);
        return create(DecodeResponseSchema, { text: req.tokenIds.join(',') });
      },
    });
    router.service(GenerationService, {
      async *generate(req, ctx) {
        ctx.signal.addEventListener('abort', () => onAbort?.(ctx.signal.reason), { once: true });
        for (const id of req.promptTokenIds) {
          await sleep(chunkDelayMs, undefined, ignoreAbort ? {} : { signal: ctx.signal });
          yield create(GenerateResponseSchema, { tokenIds: [id], model: req.model });
        }
      },
    });
  };
}

/** `n` token ids 1..n, to ask Generate for `n` chunks. */
export const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

function method<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O, stream: boolean) {
  return {
    path,
    requestStream: false,
    responseStream: stream,
    requestSerialize: (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (m: MessageShape<O>) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
  };
}

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;
type ServerStream = (req: unknown) => grpc.ClientReadableStream<unknown>;

/** Decode and Generate over grpc-js, the way a non-Connect gRPC peer calls our servers. */
export interface GrpcJsTestClient {
  decode(tokenIds: number[]): Promise<DecodeResponse>;
  /** Every chunk of the stream; rejects with the grpc-js error (its `code` is a gRPC status). */
  generate(tokenIds: number[]): Promise<GenerateResponse[]>;
  close(): void;
}

export function grpcJsClient(address: string): GrpcJsTestClient {
  const Ctor = grpc.makeGenericClientConstructor(
    {
      decode: method(`/${TokenizerService.typeName}/Decode`, DecodeRequestSchema, DecodeResponseSchema, false),
      generate: method(`/${GenerationService.typeName}/Generate`, GenerateRequestSchema, GenerateResponseSchema, true),
    },
    'TestService',
  );
  const client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { decode: Unary; generate: ServerStream };
  return {
    decode: (tokenIds) =>
      new Promise((resolve, reject) =>
        client.decode(create(DecodeRequestSchema, { tokenIds }), (err, res) => (err ? reject(err) : resolve(res as DecodeResponse))),
      ),
    generate: async (tokenIds) => {
      const chunks: GenerateResponse[] = [];
      for await (const chunk of client.generate(create(GenerateRequestSchema, { promptTokenIds: tokenIds }))) {
        chunks.push(chunk as GenerateResponse);
      }
      return chunks;
    },
    close: () => client.close(),
  };
}
