import type { Client } from '@connectrpc/connect';
import type { TokenizerService } from '@tokenmesh/proto';

/** A token as logprobs show it: its id, the bytes it stands for, and its log-probability. */
export interface LoggedToken {
  readonly id: number;
  /** The token's bytes (a token may be part of a UTF-8 character). */
  readonly bytes: readonly number[];
  /** End-of-text and the like: no text of the completion. */
  readonly special: boolean;
  readonly logprob: number;
}

/** One completion token with logprobs; with top_logprobs, the likeliest tokens at its position, likeliest first. */
export interface TokenLogprob extends LoggedToken {
  readonly top?: readonly LoggedToken[];
}

/** What the worker sent for one token. */
export interface WorkerLogprob {
  readonly id: number;
  readonly logprob: number;
  readonly top?: { readonly tokenIds: readonly number[]; readonly logprobs: readonly number[] };
}

/** Ids per model whose bytes are known; past this many a model's table starts over. */
const MAX_KNOWN = 200_000;

/**
 * Token bytes for logprobs, from the tokenizer's TokenBytes and kept per model: a vocabulary's
 * bytes never change, so after a few requests no call is needed.
 */
export class TokenBytesCache {
  private readonly byModel = new Map<string, Map<number, { bytes: number[]; special: boolean }>>();

  constructor(private readonly tokenizer: Client<typeof TokenizerService>) {}

  /** The worker's records with each token's (and alternative's) bytes. */
  async resolve(model: string, records: readonly WorkerLogprob[], signal?: AbortSignal): Promise<TokenLogprob[]> {
    let known = this.byModel.get(model);
    if (!known || known.size > MAX_KNOWN) this.byModel.set(model, (known = new Map()));
    const missing = new Set<number>();
    for (const r of records) {
      if (!known.has(r.id)) missing.add(r.id);
      for (const id of r.top?.tokenIds ?? []) if (!known.has(id)) missing.add(id);
    }
    if (missing.size > 0) {
      const ids = [...missing];
      const got = await this.tokenizer.tokenBytes({ model, tokenIds: ids }, { signal });
      ids.forEach((id, i) => known.set(id, { bytes: [...(got.tokens[i] ?? [])], special: got.special[i] ?? false }));
    }
    const logged = (id: number, logprob: number): LoggedToken => ({ id, ...known.get(id)!, logprob });
    return records.map((r) => {
      const token = logged(r.id, r.logprob);
      return r.top ? { ...token, top: r.top.tokenIds.map((id, i) => logged(id, r.top!.logprobs[i]!)) } : token;
    });
  }
}
