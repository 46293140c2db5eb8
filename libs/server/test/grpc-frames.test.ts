import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { FinishReason, GenerateResponseSchema } from '@tokenmesh/proto';

import { frame, FrameReader } from '../src/grpc-frames';

const message = (n: number) =>
  toBinary(
    GenerateResponseSchema,
    create(GenerateResponseSchema, {
      tokenIds: Array.from({ length: n }, (_, i) => 1000 + i),
      logprobs: Array.from({ length: n }, (_, i) => -i / 8),
      finishReason: n > 2 ? FinishReason.STOP : FinishReason.UNSPECIFIED,
      usage: { promptTokens: 3, completionTokens: n, totalTokens: 3 + n },
      model: 'tinygpt',
      workerId: 'w1',
    }),
  );

describe('gRPC frames', () => {
  it('splits a body into its messages wherever the chunks fall', () => {
    const messages = [message(1), message(0), message(40), message(3)];
    const body = Buffer.concat(messages.map((m) => frame(m)));
    for (const size of [1, 2, 5, 6, 7, 64, body.length]) {
      const reader = new FrameReader(1 << 20);
      const out: Buffer[] = [];
      for (let at = 0; at < body.length; at += size) out.push(...reader.push(body.subarray(at, at + size)));
      expect(out.map((b) => Buffer.from(b).toString('hex'))).toEqual(messages.map((m) => Buffer.from(m).toString('hex')));
      expect(reader.pending).toBe(0);
    }
  });

  it('holds a truncated message as pending, refuses a compressed or oversized one', () => {
    const reader = new FrameReader(1 << 20);
    expect(reader.push(frame(message(4)).subarray(0, 9))).toEqual([]);
    expect(reader.pending).toBe(9);
    const compressed = frame(message(1));
    compressed[0] = 1;
    expect(() => new FrameReader(1 << 20).push(compressed)).toThrow(
      new ConnectError('protocol error: a compressed message, though identity was asked for', Code.Internal),
    );
    const big = frame(message(40));
    expect(() => new FrameReader(16).push(big)).toThrow(/larger than the limit of 16 bytes/);
  });
});
