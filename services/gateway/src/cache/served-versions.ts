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
 *
 * Each is followed by the digests of what the workers loaded (`withDigests`) when they say them.
 */
export function resolveModel(requested: string, routingKey: string, served: readonly ServedModelInfo[]): ModelResolution | undefined {
  if (requested.includes('@')) {
    const [name, version] = requested.split('@');
    return {
      model: withDigests(
        requested,
        served.filter((m) => m.name === name && m.version === version),
      ),
      byRoutingKey: false,
    };
  }
  const mine = served.filter((m) => m.name === requested);
  const versions = [...new Set(mine.map((m) => m.version))];
  if (versions.length === 1) return { model: withDigests(`${requested}@${versions[0]!}`, mine), byRoutingKey: false };
  if (versions.length > 1 && routingKey !== '') return { model: withDigests(requested, mine), byRoutingKey: true };
  return undefined;
}

/**
 * The model part with what its workers loaded (their digests): an adapter retrained, or a model
 * file replaced, under the same name@version gets new entries instead of the old answers.
 */
function withDigests(model: string, served: readonly ServedModelInfo[]): string {
  const digests = [...new Set(served.flatMap((m) => (m.digest ? m.digest.split(',') : [])))].sort();
  return digests.length > 0 ? `${model}#${digests.join(',')}` : model;
}
