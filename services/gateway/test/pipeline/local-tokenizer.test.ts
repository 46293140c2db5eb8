import { resolve } from 'node:path';

import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { TokenizerService } from '@tokenmesh/proto';
import { TokenizerRepo } from '@tokenmesh/tokenizer';
import { tokenizerService } from '@tokenmesh/tokenizer-service';

import { localFirstTokenizer } from '../../src/pipeline/local-tokenizer';
import { TINYLLAMA } from '../in-memory-mesh';

const TINYGPT = resolve(__dirname, '../../../../models/tinygpt');

describe('tokenizers in the gateway (GATEWAY_LOCAL_TOKENIZERS)', () => {
  let remoteCalls: string[];
  let remote: ReturnType<typeof createClient<typeof TokenizerService>>;
  let local: ReturnType<typeof localFirstTokenizer>;

  beforeAll(async () => {
    const service = tokenizerService(await TokenizerRepo.load([TINYLLAMA, TINYGPT]));
    const counted: ServiceImpl<typeof TokenizerService> = {
      encode: (req, ctx) => (remoteCalls.push('encode'), service.encode(req, ctx)),
      decode: (req, ctx) => (remoteCalls.push('decode'), service.decode(req, ctx)),
      decodeStream: (reqs, ctx) => (remoteCalls.push('decodeStream'), service.decodeStream(reqs, ctx)),
      tokenBytes: (req, ctx) => (remoteCalls.push('tokenBytes'), service.tokenBytes(req, ctx)),
    };
    remote = createClient(
      TokenizerService,
      createRouterTransport((r) => r.service(TokenizerService, counted)),
    );
    local = localFirstTokenizer(remote, await TokenizerRepo.load([TINYLLAMA]));
  });
  beforeEach(() => (remoteCalls = []));

  const stream = async (client: typeof remote, model: string, chunks: number[][]) => {
    async function* reqs() {
      for (const [i, tokenIds] of chunks.entries()) yield { model: i === 0 ? model : '', tokenIds };
    }
    const out: string[] = [];
    for await (const m of client.decodeStream(reqs())) out.push(m.text);
    return out;
  };

  it('answers as the service does for its models, without calling it', async () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Héllo ✓' },
    ];
    const expected = [
      await remote.encode({ model: 'tinyllama', text: 'Héllo ✓' }),
      await remote.encode({ model: 'tinyllama', messages }),
      await remote.decode({ model: 'tinyllama', tokenIds: [72, 195, 169] }),
      await remote.tokenBytes({ model: 'tinyllama', tokenIds: [72, 195, 256] }),
    ];
    const chunks = [[72, 195], [169, 108], [226, 156], [147]];
    const expectedStream = await stream(remote, 'tinyllama', chunks);
    remoteCalls = [];
    expect([
      await local.encode({ model: 'tinyllama', text: 'Héllo ✓' }),
      await local.encode({ model: 'tinyllama', messages }),
      await local.decode({ model: 'tinyllama', tokenIds: [72, 195, 169] }),
      await local.tokenBytes({ model: 'tinyllama', tokenIds: [72, 195, 256] }),
    ]).toEqual(expected);
    // A byte of a two-byte character is that byte; end-of-text is special, its bytes its content.
    expect(expected[3]).toMatchObject({
      tokens: [Uint8Array.of(72), Uint8Array.of(195), new Uint8Array(Buffer.from('<|endoftext|>'))],
      special: [false, false, true],
    });
    expect(await stream(local, 'tinyllama', chunks)).toEqual(expectedStream);
    expect(expectedStream.join('')).toBe('Hél✓');
    expect(remoteCalls).toEqual([]);
  });

  it('sends other models to the service, streams included', async () => {
    const viaLocal = await local.encode({ model: 'tinygpt', text: 'In the beginning' });
    expect(viaLocal.tokenIds.length).toBeGreaterThan(0);
    expect(await stream(local, 'tinygpt', [[73, 110]])).toEqual(['In']);
    expect((await local.tokenBytes({ model: 'tinygpt', tokenIds: [32] })).tokens).toEqual([Uint8Array.of(32)]);
    expect(remoteCalls).toEqual(['encode', 'decodeStream', 'tokenBytes']);
  });

  it("keeps the service's errors: unknown models, bad ids, both text and messages", async () => {
    const code = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => ConnectError.from(e).code,
      );
    expect(await code(local.encode({ model: 'nope', text: 'x' }))).toBe(Code.NotFound);
    expect(await code(local.decode({ model: 'tinyllama', tokenIds: [999_999] }))).toBe(Code.InvalidArgument);
    expect(await code(local.encode({ model: 'tinyllama', text: 'x', messages: [{ role: 'user', content: 'y' }] }))).toBe(Code.InvalidArgument);
  });
});
