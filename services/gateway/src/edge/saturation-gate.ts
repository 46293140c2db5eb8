import { Code, ConnectError } from '@connectrpc/connect';

import { overloaded } from './api-error';

/**
 * Sheds before per-request work while the workers of a model are known to be full. A burst past
 * capacity otherwise pays, for every request the workers will refuse, the gateway's parsing,
 * encoding, limiter and router call and the router's and worker's own, in arrival order on each
 * event loop: the refusals queue behind each other (a lone refusal takes ~15 ms, the last of a 4×
 * burst over a second). Once the router answers RESOURCE_EXHAUSTED for a model, requests for it
 * of that request's priority or worse are refused here for `windowMs`, with Retry-After; the
 * first request after the window goes through and either finds room or closes the gate again.
 */
export class SaturationGate {
  /** Per model: until when requests of each priority, and of worse ones, are shed. */
  private readonly until = new Map<string, Map<number, number>>();

  constructor(
    private readonly windowMs: number,
    private readonly onShed: (model: string) => void = () => {},
  ) {}

  /**
   * @throws RESOURCE_EXHAUSTED (429 with Retry-After) while `model`'s workers were just found full
   * for a request of this `priority` or a better one: the workers' queue lets better priorities
   * ahead, so a batch line turned away never sheds interactive requests.
   */
  admit(model: string, priority = 0): void {
    const byPriority = this.until.get(model);
    if (byPriority === undefined) return;
    const now = performance.now();
    let shed = false;
    for (const [p, until] of byPriority) {
      if (now >= until) byPriority.delete(p);
      else if (p <= priority) shed = true;
    }
    if (byPriority.size === 0) this.until.delete(model);
    if (!shed) return;
    this.onShed(model);
    throw overloaded(`every worker serving ${model} is full; retry shortly`, 1);
  }

  /** The upstream refused a request of `priority` for `model` as full (RESOURCE_EXHAUSTED). */
  observe(model: string, err: unknown, priority = 0): void {
    if (this.windowMs <= 0 || !(err instanceof ConnectError) || err.code !== Code.ResourceExhausted) return;
    let byPriority = this.until.get(model);
    if (!byPriority) this.until.set(model, (byPriority = new Map()));
    byPriority.set(priority, performance.now() + this.windowMs);
  }
}
