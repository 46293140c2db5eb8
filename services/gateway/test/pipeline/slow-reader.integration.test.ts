import { resolve } from 'node:path';

import { createClient, createRouterTransport } from '@connectrpc/connect';
import { InferenceService } from '@tokenmesh/proto';

import { inferenceService } from '../../src/api/grpc/inference-api';
import { inMemoryMesh } from '../in-memory-mesh';

const TINYGPT = resolve(__dirname, '../../../../models/tinygpt');

/** Text chunk sizes of one StreamPredict, reading each chunk `pauseMs` after the previous. */
async function read(messages: AsyncIterable<{ text: string }>, pauseMs: number): Promise<{ text: string; chunks: string[] }> {
  const chunks: string[] = [];
  for await (const m of messages) {
    if (m.text) chunks.push(m.text);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return { text: chunks.join(''), chunks };
}

describe('a slow reader', () => {
  it('gets the tokens made while it was not reading in one chunk, and the stream beside it is not held back', async () => {
    // No hold: coalescing comes only from the slow reader itself.
    const mesh = await inMemoryMesh(TINYGPT, { localDecoding: true, holdMs: () => 0 });
    try {
      const client = createClient(
        InferenceService,
        createRouterTransport((r) => r.service(InferenceService, inferenceService(mesh.upstreams))),
      );
      const req = { prompt: 'And God said, Let there be light', sampling: { maxTokens: 120, temperature: 0 } };
      const [fast, slow] = await Promise.all([read(client.streamPredict(req), 0), read(client.streamPredict(req), 150)]);
      // Greedy: both streams carry the same text, whatever their chunks.
      expect(slow.text).toBe(fast.text);
      expect(fast.text.length).toBeGreaterThan(60);
      // The fast reader gets its tokens as they come; the slow one gets the backlog in big chunks.
      const longest = (c: string[]) => Math.max(...c.map((x) => x.length));
      expect(longest(fast.chunks)).toBeLessThanOrEqual(4);
      expect(longest(slow.chunks)).toBeGreaterThanOrEqual(10);
      expect(slow.chunks.length).toBeLessThan(fast.chunks.length / 3);
    } finally {
      await mesh.close();
    }
  });
});
