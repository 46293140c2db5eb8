import { resolve } from 'node:path';

import { type Client, Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { TokenizerService } from '@tokenmesh/proto';
import { TokenizerRepo } from '@tokenmesh/tokenizer';

import { tokenizerService } from '../src/service';

async function* ids(model: string, chunks: number[][]) {
  for (const [i, tokenIds] of chunks.entries()) yield { model: i === 0 ? model : '', tokenIds };
}

describe('TokenizerService handlers (in-memory transport)', () => {
  let client: Client<typeof TokenizerService>;
  beforeAll(async () => {
    const repo = await TokenizerRepo.load([resolve(__dirname, '../../../models/tinyllama')]);
    client = createClient(
      TokenizerService,
      createRouterTransport((r) => r.service(TokenizerService, tokenizerService(repo))),
    );
  });

  it('encodes text and chat messages, reporting the context length', async () => {
    expect(await client.encode({ model: 'tinyllama@1', text: 'Hé' })).toMatchObject({ tokenIds: [72, 195, 169], prompt: 'Hé', contextLength: 512 });
    const chat = await client.encode({ model: 'tinyllama', messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.prompt).toBe('<|user|>\nhi\n<|assistant|>\n');
    expect(chat.tokenIds).toEqual([...Buffer.from(chat.prompt)]);
  });

  it('decodes, optionally skipping special tokens', async () => {
    expect((await client.decode({ model: 'tinyllama', tokenIds: [104, 256, 105] })).text).toBe('h<|endoftext|>i');
    expect((await client.decode({ model: 'tinyllama', tokenIds: [104, 256, 105], skipSpecialTokens: true })).text).toBe('hi');
  });

  it('DecodeStream returns text deltas that never split a character', async () => {
    const bytes = [...Buffer.from('a€b👋🏽', 'utf8')];
    const deltas: string[] = [];
    for await (const r of client.decodeStream(
      ids(
        'tinyllama',
        bytes.map((b) => [b]),
      ),
    ))
      deltas.push(r.text);
    expect(deltas.join('')).toBe('a€b👋🏽');
    // One answer per message: empty until a character's last byte arrives.
    expect(deltas.filter(Boolean)).toEqual(['a', '€', 'b', '👋', '🏽']);
    expect(deltas).toHaveLength(bytes.length);
  });

  it('gives token-id prompts back as they are, with their text and the context length', async () => {
    const ids = (await client.encode({ model: 'tinyllama', text: 'Héllo' })).tokenIds;
    expect(await client.encode({ model: 'tinyllama', tokenIds: ids })).toMatchObject({ tokenIds: ids, prompt: 'Héllo', contextLength: 512 });
  });

  it.each([
    [() => client.encode({ model: 'gpt9', text: 'x' }), Code.NotFound, 'model: "gpt9" has no tokenizer here (known: tinyllama)'],
    [() => client.encode({ model: 'tinyllama' }), Code.InvalidArgument, 'text, messages, token_ids: exactly one of them must be given'],
    [() => client.encode({ model: 'tinyllama', text: 'x', tokenIds: [1] }), Code.InvalidArgument, 'text, messages, token_ids: exactly one'],
    [() => client.encode({ model: 'tinyllama', tokenIds: [72, 300] }), Code.InvalidArgument, 'token_ids[1]: 300 is outside the vocabulary (0..256)'],
    [() => client.encode({ model: 'tinyllama', messages: [{ role: 'robot', content: 'x' }] }), Code.InvalidArgument, 'messages[0].role'],
    [() => client.decode({ model: 'tinyllama', tokenIds: [1, 4000] }), Code.InvalidArgument, 'token_ids[1]: 4000 is outside the vocabulary (0..256)'],
  ])('rejects bad input %#', async (call, code, message) => {
    const err = await call().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(code);
    expect(err?.rawMessage).toContain(message);
  });
});
