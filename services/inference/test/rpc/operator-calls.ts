import { resolve } from 'node:path';

import { type Code, ConnectError } from '@connectrpc/connect';
import type { ReferenceCase } from '@tokenmesh/model';

/** What the operator-call tests share: the committed models, one worker thread, the token. */
export const MODELS = resolve(__dirname, '../../../../models');
export const OPTIONS = { intraOpThreads: 1, executionProviders: ['cpu'] };
export const TOKEN = 'operators-token-0123456789';
export const AUTH = { headers: { authorization: `Bearer ${TOKEN}` } };
const EOS = 256;

/** A reference case's first row: its prompt (no padding), greedy tokens up to end-of-text, and length. */
export function expected(c: ReferenceCase) {
  const row = c.greedy_ids[0]!;
  return { prompt: c.input_ids[0]!.filter((_, i) => c.attention_mask[0]![i] === 1), tokens: row.filter((t) => t !== EOS), maxTokens: row.length };
}

/** The code and message a call fails with; throws when it succeeds. */
export async function codeOf(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error('expected the call to fail');
}
