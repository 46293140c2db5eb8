/**
 * `npm run feedback:rebuild -w services/feedback`: rebuilds the feedback report in REDIS_URL from
 * the events stream on NATS_URL now, whether or not the store lost it (e.g. after fixing a
 * consumer bug), while the services keep running: their live consumers count new events in the
 * new generation as it fills. Prints the result as one JSON line; exit 1 on failure, 2 when
 * another rebuild holds the lock.
 */
import { NatsBus } from '@tokenmesh/bus';
import { createLogger } from '@tokenmesh/logging';
import { RedisStore } from '@tokenmesh/store';

import { FeedbackAggregates } from '../aggregates';
import { loadConfig } from '../config';
import { rebuildReport } from '../report-rebuild';

async function main(): Promise<number> {
  const config = loadConfig();
  // Logs on stderr: stdout carries only the result.
  const logger = createLogger({ service: 'feedback-rebuild', sink: (l) => process.stderr.write(l + '\n') });
  // The in-process bus and store of `npm start` live inside that process: nothing to rebuild from here.
  if (!config.redisUrl || !config.natsUrl) {
    throw new Error(`REDIS_URL and NATS_URL must both be set (got REDIS_URL=${config.redisUrl ?? 'unset'}, NATS_URL=${config.natsUrl ?? 'unset'})`);
  }
  const store = await RedisStore.connect(config.redisUrl);
  try {
    const bus = await NatsBus.connect(config.natsUrl, { name: 'feedback-rebuild' });
    try {
      const result = await rebuildReport({ bus, store, aggregates: new FeedbackAggregates(store), logger, reason: 'operator', lockMs: config.rebuildLockMs });
      process.stdout.write(JSON.stringify(result ?? { skipped: 'another rebuild holds the lock' }) + '\n');
      return result ? 0 : 2;
    } finally {
      await bus.close();
    }
  } finally {
    await store.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`feedback rebuild failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
