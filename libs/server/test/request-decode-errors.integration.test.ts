import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import {
  DecodeRequestSchema,
  DecodeResponseSchema,
  DecodeStreamRequestSchema,
  DecodeStreamResponseSchema,
  GenerateRequestSchema,
  GenerateResponseSchema,
  GenerationService,
  TokenizerService,
} from '@tokenmesh/proto';

import { type ServerHandle, startServer } from '../src';

/** field 1 (string), length-delimited, with its length missing: not protobuf. */
const MALFORMED = Uint8Array.of(0x0a);
const DECODE = `/${TokenizerService.typeName}/Decode`;
const ENCODE = `/${TokenizerService.typeName}/Encode`;
const DECODE_STREAM = `/${TokenizerService.typeName}/DecodeStream`;
const GENERATE = `/${GenerationService.typeName}/Generate`;
const decodeBytes = toBinary(DecodeRequestSchema, create(DecodeRequestSchema, { tokenIds: [1, 2] }));
const generateBytes = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { promptTokenIds: [5] }));
const undecodable = (typeName: string) =>
  new RegExp(`^${typeName.replaceAll('.', '\\.')}: the request body could not be decoded \\(invalid protobuf binary: .+\\)$`);
// What a handler relays when an upstream server's *response* does not decode: INTERNAL, and must stay so.
const upstreamError = () => new ConnectError('parse binary: premature EOF', Code.Internal);

function routes(router: ConnectRouter): void {
  router.service(TokenizerService, {
    decode: (req) => create(DecodeResponseSchema, { text: req.tokenIds.join(',') }),
    encode: () => {
      throw upstreamError();
    },
    async *decodeStream(reqs) {
      for await (const req of reqs) yield create(DecodeStreamResponseSchema, { text: req.tokenIds.join(',') });
    },
  });
  router.service(GenerationService, {
    async *generate(req) {
      if (req.model === 'upstream') throw upstreamError();
      for (const id of req.promptTokenIds) yield create(GenerateResponseSchema, { tokenIds: [id] });
    },
  });
}

/** One gRPC-Web or Connect streaming envelope. */
function envelope(flags: number, data: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(data.byteLength, 1);
  return Buffer.concat([head, data]);
}

/** The envelopes of a gRPC-Web or Connect streaming body. */
function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out = [];
  for (let at = 0; at < body.length;) {
    const len = body.readUInt32BE(at + 1);
    out.push({ flags: body[at]!, data: body.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

describe('a request body that is not protobuf is the caller’s error on every protocol', () => {
  let server: ServerHandle;
  let channel: grpc.Client;
  beforeAll(async () => {
    server = await startServer({ host: '127.0.0.1', port: 0, http1Port: 0, routes });
    channel = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    channel?.close();
    await server?.close();
  });

  /** A grpc-js call sending `bytes` as the message as is. */
  const grpcUnary = (path: string, bytes: Uint8Array) =>
    new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((done) =>
      channel.makeUnaryRequest(
        path,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        bytes,
        (err, res) => done({ err, res }),
      ),
    );
  const grpcServerStream = (path: string, bytes: Uint8Array) =>
    new Promise<{ err?: grpc.ServiceError; messages: Buffer[] }>((done) => {
      const messages: Buffer[] = [];
      const call = channel.makeServerStreamRequest(
        path,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        bytes,
      );
      call.on('data', (m: Buffer) => messages.push(m));
      call.on('error', (err: grpc.ServiceError) => done({ err, messages }));
      call.on('end', () => done({ messages }));
    });
  const post = (path: string, contentType: string, body: Uint8Array) =>
    fetch(`${server.http1Url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body: Buffer.from(body) });

  it('gRPC unary: INVALID_ARGUMENT naming the message type; a valid request still works', async () => {
    const { err } = await grpcUnary(DECODE, MALFORMED);
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(undecodable(DecodeRequestSchema.typeName));
    const ok = await grpcUnary(DECODE, decodeBytes);
    expect(ok.err).toBeNull();
    expect(fromBinary(DecodeResponseSchema, ok.res!).text).toBe('1,2');
  });

  it('gRPC server streaming: INVALID_ARGUMENT; a valid request still streams', async () => {
    const bad = await grpcServerStream(GENERATE, MALFORMED);
    expect(bad.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.err?.details).toMatch(undecodable(GenerateRequestSchema.typeName));
    const ok = await grpcServerStream(GENERATE, generateBytes);
    expect([ok.err, ok.messages.map((m) => fromBinary(GenerateResponseSchema, m).tokenIds)]).toEqual([undefined, [[5]]]);
  });

  it('gRPC bidi streaming: a message that does not decode mid-stream ends the call INVALID_ARGUMENT', async () => {
    const call = channel.makeBidiStreamRequest(
      DECODE_STREAM,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
    );
    const texts: string[] = [];
    const ended = new Promise<grpc.ServiceError | undefined>((done) => {
      call.on('data', (m: Buffer) => texts.push(fromBinary(DecodeStreamResponseSchema, m).text));
      call.on('error', done);
      call.on('end', () => done(undefined));
    });
    call.write(toBinary(DecodeStreamRequestSchema, create(DecodeStreamRequestSchema, { tokenIds: [3] })));
    call.write(MALFORMED);
    call.end();
    const err = await ended;
    expect(texts).toEqual(['3']);
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(undecodable(DecodeStreamRequestSchema.typeName));
  });

  it('gRPC-Web (HTTP/1.1): grpc-status 3 in the trailer; a valid request still works', async () => {
    const bad = await post(DECODE, 'application/grpc-web+proto', envelope(0, MALFORMED));
    const [trailer] = envelopes(Buffer.from(await bad.arrayBuffer()));
    const text = trailer!.data.toString();
    expect(trailer!.flags).toBe(0x80);
    expect(text).toMatch(/^grpc-status: 3\r$/m);
    const message = decodeURIComponent(/^grpc-message: (.*)\r$/m.exec(text)![1]!);
    expect(message).toMatch(undecodable(DecodeRequestSchema.typeName));

    const ok = await post(DECODE, 'application/grpc-web+proto', envelope(0, decodeBytes));
    const [data, okTrailer] = envelopes(Buffer.from(await ok.arrayBuffer()));
    expect(fromBinary(DecodeResponseSchema, data!.data).text).toBe('1,2');
    expect(okTrailer!.data.toString()).toMatch(/^grpc-status: 0\r$/m);
  });

  it('Connect unary (HTTP/1.1): 400 invalid_argument; a valid request still works', async () => {
    const bad = await post(DECODE, 'application/proto', MALFORMED);
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { code: string; message: string };
    expect(body.code).toBe('invalid_argument');
    expect(body.message).toMatch(undecodable(DecodeRequestSchema.typeName));

    const ok = await post(DECODE, 'application/proto', decodeBytes);
    expect(ok.status).toBe(200);
    expect(fromBinary(DecodeResponseSchema, new Uint8Array(await ok.arrayBuffer())).text).toBe('1,2');
  });

  it('Connect server streaming (HTTP/1.1): the end-stream message is invalid_argument', async () => {
    const bad = await post(GENERATE, 'application/connect+proto', envelope(0, MALFORMED));
    const [end] = envelopes(Buffer.from(await bad.arrayBuffer()));
    expect(end!.flags).toBe(0x02);
    const { error } = JSON.parse(end!.data.toString()) as { error: { code: string; message: string } };
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(undecodable(GenerateRequestSchema.typeName));
  });

  it('Connect JSON that does not parse was already 400 invalid_argument', async () => {
    const bad = await post(DECODE, 'application/json', Buffer.from('{"tokenIds": ['));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('invalid_argument');
  });

  it('a handler relaying an upstream response that did not decode stays INTERNAL, unary and streaming', async () => {
    const unary = await grpcUnary(ENCODE, new Uint8Array(0));
    expect([unary.err?.code, unary.err?.details]).toEqual([grpc.status.INTERNAL, 'parse binary: premature EOF']);
    const connect = await post(ENCODE, 'application/proto', new Uint8Array(0));
    expect(connect.status).toBe(500);
    const stream = await grpcServerStream(GENERATE, toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { model: 'upstream' })));
    expect([stream.err?.code, stream.err?.details]).toEqual([grpc.status.INTERNAL, 'parse binary: premature EOF']);
  });
});
