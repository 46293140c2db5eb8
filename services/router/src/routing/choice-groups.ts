/** How long a group's worker is remembered after its first call (its other calls come within milliseconds). */
const GROUP_TTL_MS = 5_000;
/** Groups remembered at most; past it the oldest go (a group that never completes must not stay). */
const MAX_GROUPS = 10_000;

/**
 * The worker each choice group (the n choices of one prompt) went to, so every call of the group
 * goes there too and the worker can prefill the prompt once for all of them. A group is
 * forgotten once all its calls have been placed, or after GROUP_TTL_MS.
 */
export class ChoiceGroups {
  private readonly groups = new Map<string, { worker: string; left: number; expires: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The worker an earlier call of `group` went to, if it is still one of `candidates`; counts this call as placed. */
  placed<W extends { readonly id: string }>(group: string, candidates: readonly W[]): W | undefined {
    const g = this.groups.get(group);
    if (!g) return undefined;
    if (g.expires < this.now()) {
      this.groups.delete(group);
      return undefined;
    }
    const worker = candidates.find((w) => w.id === g.worker);
    if (worker && --g.left <= 0) this.groups.delete(group);
    return worker;
  }

  /** Remembers where the first call of a group of `size` calls went. */
  remember(group: string, size: number, worker: string): void {
    if (size <= 1) return;
    if (this.groups.size >= MAX_GROUPS) this.groups.delete(this.groups.keys().next().value!);
    this.groups.set(group, { worker, left: size - 1, expires: this.now() + GROUP_TTL_MS });
  }
}
