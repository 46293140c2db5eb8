/** What the router's ListServedModels returns, as far as the cache needs it. */
export interface ServedModelInfo {
  readonly name: string;
  readonly version: string;
}

/** The key's model part: see {@link resolveModel}. */
export interface ModelResolution {
  readonly model: string;
  /** True when the routing key must be part of the key. */
  readonly byRoutingKey: boolean;
}

/**
 * Which model a cached answer belongs to.
 *
 * - `name@version` as requested: it is served as is (the router's split only applies to bare names).
 * - A bare name served by one version: `name@version`, so deploying a new version never replays
 *   the old one's answers, and requests that spell the version share entries with those that do not.
 * - A bare name served by several versions: a traffic split picks the version from the routing
 *   key (hashed with the name), so the same prompt may legitimately get different answers for
 *   different keys; the key includes the routing key so that a user never gets another variant's
 *   answer, and the split's shares stay as configured. Without a routing key the split draws at
 *   random per request: caching would pin every keyless request to whichever variant answered
 *   first, so such requests are not cached (undefined).
 * - Not served at all: undefined (the generation fails with the router's own error).
 */
export function resolveModel(requested: string, routingKey: string, served: readonly ServedModelInfo[]): ModelResolution | undefined {
  if (requested.includes('@')) return { model: requested, byRoutingKey: false };
  const versions = [...new Set(served.filter((m) => m.name === requested).map((m) => m.version))];
  if (versions.length === 1) return { model: `${requested}@${versions[0]!}`, byRoutingKey: false };
  if (versions.length > 1 && routingKey !== '') return { model: requested, byRoutingKey: true };
  return undefined;
}

/**
 * The router's served models, fetched at most once per `ttlMs` (default 1 s) however many
 * requests ask: concurrent callers share one call. A failed call is not remembered.
 */
export class ServedVersions {
  private cached: { at: number; models: Promise<readonly ServedModelInfo[]> } | undefined;

  constructor(
    private readonly list: () => Promise<readonly ServedModelInfo[]>,
    private readonly ttlMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The served models, at most `ttlMs` old. @throws what the router's call threw. */
  models(): Promise<readonly ServedModelInfo[]> {
    const t = this.now();
    if (!this.cached || t - this.cached.at >= this.ttlMs) {
      const entry = { at: t, models: this.list() };
      this.cached = entry;
      entry.models.catch(() => {
        if (this.cached === entry) this.cached = undefined;
      });
    }
    return this.cached.models;
  }
}
