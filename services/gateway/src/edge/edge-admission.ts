import { overloaded } from './api-error';

/** A model's name as the router lists it, with what its workers hold at once (0: unknown). */
export interface CapacityInfo {
  readonly name: string;
  readonly capacity: number;
}

/** Gives back an admitted request's place; calling it again does nothing. */
export type Release = () => void;

/**
 * Admission at the edge, by the capacity the router reports (ServedModel.capacity: each
 * worker's max batch plus max queue, summed). The gateway counts the requests it has in flight
 * per model name and refuses the one past that capacity at once, before it encodes the prompt or
 * calls anyone: a refusal then costs its own parsing only, instead of queueing behind the
 * burst's other requests in the gateway, router and worker in turn (a 4× burst's last refusal
 * took over a second that way). Counted per name, over every version: a request for `name`
 * may go to any of them, so the bound never refuses what the workers could take. Each gateway
 * replica counts its own requests; past the edge bound the workers still refuse, more slowly.
 * A name without a known capacity is never refused here.
 */
export class EdgeAdmission {
  private readonly inFlight = new Map<string, number>();
  private listed: readonly CapacityInfo[] | undefined;
  private capacities = new Map<string, number>();
  private readonly starts: (() => void)[] = [];

  constructor(
    /** The router's latest model list, undefined before the first answer; read on every request, so it must be cheap. */
    private readonly models: () => readonly CapacityInfo[] | undefined,
    private readonly onShed: (model: string) => void = () => {},
  ) {}

  /** Requests in flight for a model name. */
  running(name: string): number {
    return this.inFlight.get(name) ?? 0;
  }

  /** @throws RESOURCE_EXHAUSTED (429, Retry-After) when `model`'s workers are already given all they hold. */
  admit(model: string): Release {
    const at = model.indexOf('@');
    const name = at < 0 ? model : model.slice(0, at);
    const n = this.running(name);
    const capacity = this.capacityOf(name);
    if (capacity > 0 && n >= capacity) {
      this.onShed(model);
      throw overloaded(`${model} is at capacity (${capacity} requests running or waiting); retry shortly`, 1);
    }
    this.inFlight.set(name, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.running(name) - 1;
      if (left > 0) this.inFlight.set(name, left);
      else this.inFlight.delete(name);
    };
  }

  /**
   * Resolves when an admitted request may start its work: one per turn of the event loop, in
   * admission order. Between two starts the loop reads the sockets, so in a burst the requests
   * past capacity are refused as they arrive instead of waiting behind every admitted request's
   * encoding and upstream call (which all ran in one turn before). Alone, a request waits one
   * turn (microseconds).
   */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      if (this.starts.push(resolve) === 1) setImmediate(this.next);
    });
  }

  private readonly next = (): void => {
    this.starts.shift()?.();
    if (this.starts.length > 0) setImmediate(this.next);
  };

  /** Capacity of every version of `name` together; 0 when unknown. Summed once per new list. */
  private capacityOf(name: string): number {
    const models = this.models();
    if (models !== this.listed) {
      this.listed = models;
      const sums = new Map<string, number>();
      for (const m of models ?? []) {
        const sum = sums.get(m.name);
        // One version without a known capacity makes the name's unknown: a low sum would shed what it could take.
        sums.set(m.name, m.capacity > 0 && sum !== 0 ? (sum ?? 0) + m.capacity : 0);
      }
      this.capacities = sums;
    }
    return this.capacities.get(name) ?? 0;
  }
}
