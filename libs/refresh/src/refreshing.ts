export interface RefreshingOptions<T> {
  /** Reads the value from its source (Redis, another service). */
  readonly load: () => Promise<T>;
  /** A value older than this is loaded again on the next read. */
  readonly maxAgeMs: number;
  /**
   * A read of a value older than `maxAgeMs`:
   * - `wait`: waits for the new load, so no read answers with an older value;
   * - `serve`: answers at once with the old value while one load runs behind it, so once the
   *   first load is in, no read ever waits for the source.
   */
  readonly whenStale: 'wait' | 'serve';
  /**
   * A failed load:
   * - `keep`: the last value stays and counts as new for another `maxAgeMs`, so a source that is
   *   down is asked once a period, not once a read (the first load still fails its readers);
   * - `forget`: its readers get the error, and the next read loads again.
   */
  readonly onFailure: 'keep' | 'forget';
  /** Told about each failed load whose error `keep` hid from readers. */
  readonly onKeptError?: (err: unknown) => void;
  /** Milliseconds, monotonic enough for ages. Default performance.now. */
  readonly now?: () => number;
}

/**
 * A value from elsewhere, cached and kept fresh. Concurrent reads share one load; a value's age
 * counts from when its load started (what the source said then).
 */
export class Refreshing<T> {
  private latest: { readonly value: T; readonly at: number } | undefined;
  private inFlight: { readonly at: number; readonly promise: Promise<T> } | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: RefreshingOptions<T>) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** The last value loaded, however old; undefined before the first load succeeds. */
  get current(): T | undefined {
    return this.latest?.value;
  }

  /**
   * The value, at most `maxAgeMs` old (the option's by default) unless `whenStale: 'serve'` lets
   * an older one answer. The first read waits for the first load.
   * @throws the load's error when there is no value to answer with (see `onFailure`).
   */
  get(maxAgeMs = this.opts.maxAgeMs): Promise<T> {
    const now = this.now();
    const latest = this.latest;
    if (latest && now - latest.at < maxAgeMs) return Promise.resolve(latest.value);
    if (this.opts.whenStale === 'serve') {
      const loading = this.refresh();
      if (!latest) return loading;
      loading.catch(() => undefined); // the reader has its answer; `onFailure` decides about the error
      return Promise.resolve(latest.value);
    }
    // A load that started recently enough answers this read too.
    if (this.inFlight && now - this.inFlight.at < maxAgeMs) return this.inFlight.promise;
    return this.start(now);
  }

  /** A value the caller read from the source itself (with its own deadline, say), as of `at`. An older one than the value held is ignored. */
  set(value: T, at = this.now()): void {
    if (!this.latest || this.latest.at <= at) this.latest = { value, at };
  }

  /** Loads now, or joins the load already running. */
  refresh(): Promise<T> {
    return this.inFlight?.promise ?? this.start(this.now());
  }

  private start(at: number): Promise<T> {
    const promise = this.opts.load().then(
      (value) => {
        // A slower, older load finishing last does not replace a newer value.
        this.set(value, at);
        return value;
      },
      (err: unknown) => {
        if (!this.latest || this.opts.onFailure === 'forget') throw err;
        this.opts.onKeptError?.(err);
        this.latest = { value: this.latest.value, at: this.now() };
        return this.latest.value;
      },
    );
    const entry = { at, promise };
    this.inFlight = entry;
    const settled = () => {
      if (this.inFlight === entry) this.inFlight = undefined;
    };
    promise.then(settled, settled);
    return promise;
  }
}
