import { telemetry } from './telemetry';
import { ConfigError } from '@tokenmesh/config';
import { createLogger } from '@tokenmesh/logging';
import { createRuntime, onShutdownSignals } from '@tokenmesh/server';
import { banner } from './banner';
import { startMesh } from './supervisor';

const log = createLogger({ service: 'supervisor' });

startMesh(process.env, createRuntime).then(
  (mesh) => {
    process.stdout.write(banner(mesh) + '\n');
    // For scripts and tests that start the mesh: every service's URLs in one line.
    log.info('mesh started', { services: Object.fromEntries(mesh.services.map((s) => [s.name, { url: s.server.url, httpUrl: s.server.http1Url }])) });
    onShutdownSignals(
      async () => {
        await mesh.close();
        await telemetry.shutdown();
      },
      { logger: log },
    );
  },
  async (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    else log.error('start failed', { err });
    await telemetry.shutdown();
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
