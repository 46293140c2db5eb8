import { Code, ConnectError } from '@connectrpc/connect';

import { overloaded } from './api-error';

/**
 * Sheds before per-request work while the workers of a model are known to be full. A burst past
 * capacity otherwise pays, for every request the workers will refuse, the gateway's parsing,
 * encoding, limiter and router call and the router's and worker's own, in arrival order on each
 * event loop: the refusals queue behind each other (a lone refusal takes ~15 ms, the last of a 4×
 * burst over a second). Once the router answers RESOURCE_EXHAUSTED for a model, requests for it
 * are refused here for `windowMs`, with Retry-After; the first request after the window goes
 * through and either finds room or closes the gate again.
 */
export class SaturationGate {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly onShed: (model: string) => void = () => {},
  ) {}

  /** @throws RESOURCE_EXHAUSTED (429 with Retry-After) while `model`'s workers were just found full. */
  admit(model: string): void {
    const until = this.until.get(model);
    if (until === undefined) return;
    if (performance.now() >= until) {
      this.until.delete(model);
      return;
    }
    this.onShed(model);
    throw overloaded(`every worker serving ${model} is full; retry shortly`, 1);
  }

  /** The upstream refused a request for `model` as full (RESOURCE_EXHAUSTED). */
  observe(model: string, err: unknown): void {
    if (this.windowMs > 0 && err instanceof ConnectError && err.code === Code.ResourceExhausted) this.until.set(model, performance.now() + this.windowMs);
  }
}
