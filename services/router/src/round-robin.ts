/** Picks targets in turn. Discovery and smarter strategies replace this later; the shape stays. */
export class RoundRobin<T> {
  private next = 0;

  constructor(private readonly targets: readonly T[]) {
    if (targets.length === 0) throw new Error('round robin needs at least one target');
  }

  /** The next target in turn. */
  pick(): T {
    const t = this.targets[this.next % this.targets.length]!;
    this.next = (this.next + 1) % this.targets.length;
    return t;
  }

  get all(): readonly T[] {
    return this.targets;
  }

  get size(): number {
    return this.targets.length;
  }
}
