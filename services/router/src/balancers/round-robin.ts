import type { Balancer, WorkerLoad } from './balancer';

/**
 * The candidate after `lastId` in id order, wrapping to the first.
 * Turns are remembered as an id rather than an index so that a worker joining or leaving
 * between calls neither skips nor repeats anyone else's turn.
 */
export function nextInTurn<W extends WorkerLoad>(candidates: readonly W[], lastId: string | undefined): W {
  let first: W | undefined;
  let next: W | undefined;
  for (const c of candidates) {
    if (first === undefined || c.id < first.id) first = c;
    if (lastId !== undefined && c.id > lastId && (next === undefined || c.id < next.id)) next = c;
  }
  if (first === undefined) throw new RangeError('balancer needs at least one candidate');
  return next ?? first;
}

/** Picks candidates in turn, ordered by id; ignores weights, loads and keys. */
export class RoundRobinBalancer implements Balancer {
  readonly strategy = 'round-robin' as const;
  private lastId: string | undefined;

  /** The candidate whose turn it is. */
  pick<W extends WorkerLoad>(candidates: readonly W[]): W {
    const w = nextInTurn(candidates, this.lastId);
    this.lastId = w.id;
    return w;
  }
}
