import type { ServedModelInfo } from '../pipeline/served-model-catalog';

export type { ServedModelInfo };

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
