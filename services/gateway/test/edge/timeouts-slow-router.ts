import type { Client } from '@connectrpc/connect';
import type { GenerationService } from '@tokenmesh/proto';

/**
 * A router client over `real` that holds each generated token back for `delayMs` (one message
 * per token, as a slow worker streams them), so that a generation outlives a short deadline;
 * `calls` records whether each upstream call's signal was aborted (the chain cancelled) and
 * whether its stream ended.
 */
export function slowRouter(real: Client<typeof GenerationService>, delayMs: number) {
  const calls: { signal: AbortSignal; ended: boolean }[] = [];
  const router: Client<typeof GenerationService> = {
    ...real,
    generate(req, opts) {
      const call = { signal: opts!.signal!, ended: false };
      calls.push(call);
      return (async function* () {
        try {
          for await (const m of real.generate(req, opts)) {
            const last = m.tokenIds.length - 1;
            for (const [i, id] of m.tokenIds.entries()) {
              await new Promise((r) => setTimeout(r, delayMs));
              yield i === last ? { ...m, tokenIds: [id] } : { ...m, tokenIds: [id], finishReason: 0, usage: undefined, timings: undefined };
            }
            if (last < 0) yield m;
          }
        } finally {
          call.ended = true;
        }
      })();
    },
  };
  return { router, calls };
}
