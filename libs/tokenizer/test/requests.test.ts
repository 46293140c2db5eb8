import { resolve } from 'node:path';

import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { DecodeRequestSchema, DecodeStreamRequestSchema, EncodeRequestSchema } from '@tokenmesh/proto';

import { decode, decodeStream, encode, TokenizerRepo } from '../src';

const TINYLLAMA = resolve(__dirname, '../../../models/tinyllama');

describe("TokenizerService's requests answered in-process", () => {
  let repo: TokenizerRepo;
  beforeAll(async () => {
    repo = await TokenizerRepo.load([TINYLLAMA]);
  });

  it('encodes and decodes, naming the context length', () => {
    expect(encode(repo, create(EncodeRequestSchema, { model: 'tinyllama@1', text: 'Hé' }))).toMatchObject({
      tokenIds: [72, 195, 169],
      prompt: 'Hé',
      contextLength: 512,
    });
    expect(decode(repo, create(DecodeRequestSchema, { model: 'tinyllama', tokenIds: [104, 256, 105], skipSpecialTokens: true })).text).toBe('hi');
  });

  it('streams one delta per message (empty mid-character), then the tail', async () => {
    async function* reqs() {
      yield create(DecodeStreamRequestSchema, { model: 'tinyllama', tokenIds: [104, 226] });
      yield create(DecodeStreamRequestSchema, { tokenIds: [130] });
    }
    const out: string[] = [];
    for await (const m of decodeStream(repo, reqs())) out.push(m.text);
    expect(out).toEqual(['h', '', '\uFFFD']);
  });

  it('throws the ConnectErrors callers see over the wire', async () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof ConnectError ? e.code : e;
      }
    };
    expect(code(() => encode(repo, create(EncodeRequestSchema, { model: 'nope', text: 'x' })))).toBe(Code.NotFound);
    expect(code(() => encode(repo, create(EncodeRequestSchema, { model: 'tinyllama' })))).toBe(Code.InvalidArgument);
    expect(code(() => decode(repo, create(DecodeRequestSchema, { model: 'tinyllama', tokenIds: [999_999] })))).toBe(Code.InvalidArgument);
    async function* anonymous() {
      yield create(DecodeStreamRequestSchema, { tokenIds: [1] });
    }
    await expect(decodeStream(repo, anonymous()).next()).rejects.toThrow('model: required in the first message');
  });
});
