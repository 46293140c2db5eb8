import { type Balancer, loadOf, type WorkerLoad } from './balancer';
import { nextInTurn } from './round-robin';

/**
 * Sends each call to a worker with the fewest calls in flight plus waiting.
 * Ties are taken in turn: always taking the first of equals would pile every call onto one
 * worker whenever the pool is idle or evenly loaded.
 */
export class LeastConnectionsBalancer implements Balancer {
  readonly strategy = 'least-connections' as const;
  private lastId: string | undefined;

  /** A least-loaded candidate, rotating among equals. */
  pick<W extends WorkerLoad>(candidates: readonly W[]): W {
    let min = Infinity;
    for (const c of candidates) min = Math.min(min, loadOf(c));
    const w = nextInTurn(
      candidates.filter((c) => loadOf(c) === min),
      this.lastId,
    );
    this.lastId = w.id;
    return w;
  }
}
