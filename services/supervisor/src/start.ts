import { createRuntime, type RunningService, type ServiceRuntime } from '@tokenmesh/server';

import { banner } from './banner';
import type { MeshConfig } from './mesh-config';
import { startMesh } from './supervisor';

/**
 * `npm start` as one service for runMain: the mesh, its banner, and one `mesh started` line with
 * every service's URLs (scripts and tests wait for it). Its server is the gateway's; closing it
 * closes the mesh.
 */
export async function start(config: MeshConfig, rt: ServiceRuntime): Promise<RunningService> {
  const mesh = await startMesh(config.env, createRuntime);
  process.stdout.write(banner(mesh, { playground: config.gateway.playground }) + '\n');
  rt.logger.info('mesh started', { services: Object.fromEntries(mesh.services.map((s) => [s.name, { url: s.server.url, httpUrl: s.server.http1Url }])) });
  return { name: 'supervisor', server: mesh.get('gateway').server, close: (graceMs) => mesh.close(graceMs) };
}
