import { ConfigError, redactConfig } from '@tokenmesh/config';
import type { Telemetry } from '@tokenmesh/telemetry';

import { createRuntime } from './create-runtime';
import type { RunningService, ServiceRuntime } from './service-runtime';
import { onShutdownSignals } from './shutdown-signals';

export interface MainOptions<C> {
  readonly name: string;
  /** Started by the service's telemetry.ts, imported before anything else. */
  readonly telemetry: Telemetry;
  readonly loadConfig: (env: NodeJS.ProcessEnv) => C;
  readonly start: (config: C, runtime: ServiceRuntime) => Promise<RunningService>;
}

/**
 * The body of every service's main.ts: config (a ConfigError prints every problem and exits 2),
 * start, one `service started` log line with the URLs, and SIGTERM/SIGINT → graceful close →
 * flush telemetry → exit 0.
 */
export function runMain<C>({ name, telemetry, loadConfig, start }: MainOptions<C>): void {
  const runtime = createRuntime(name);
  let config: C;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exit(2);
  }
  runtime.logger.info('configuration', { config: redactConfig(config) });
  start(config, runtime).then(
    (service) => {
      runtime.logger.info('service started', { url: service.server.url, http_url: service.server.http1Url });
      onShutdownSignals(
        async () => {
          await service.close();
          await telemetry.shutdown();
        },
        { logger: runtime.logger },
      );
    },
    async (err: unknown) => {
      runtime.logger.error('start failed', { err });
      await telemetry.shutdown();
      process.exit(1);
    },
  );
}
