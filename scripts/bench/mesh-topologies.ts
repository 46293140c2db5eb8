/**
 * The two ways the mesh runs, each started fresh for a model: `embedded` is `npm start` (the
 * supervisor: every service in one process, in-process calls between them), `compose` is one
 * process per service (tokenizer, inference, router, gateway), as docker-compose.yml runs them.
 * Both at their default configuration, the model's tokenizer in the gateway as both set it.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';

import { type ServiceProcess, startGateway, startSupervisor, startUpstreams } from '@tokenmesh/testing';

import { cpuBetween, threadCpu } from './mesh-cpu';
import type { LoadResult, LoadSpec } from './mesh-load';

export const TOPOLOGIES = ['embedded', 'compose'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

/** A running mesh: where its gateway listens and which processes serve it, by service. */
export interface RunningMesh {
  readonly topology: Topology;
  readonly httpUrl: string;
  readonly grpcUrl: string;
  /** Service name → process id (the embedded mesh: one process, named `mesh`). */
  readonly pids: Record<string, number>;
  stop(): Promise<void>;
}

/** `env`: added to the embedded mesh's environment (e.g. BATCH_CONCURRENCY). */
export async function startTopology(topology: Topology, modelDir: string, env: Record<string, string> = {}): Promise<RunningMesh> {
  const name = basename(modelDir);
  if (topology === 'embedded') {
    const p = await startSupervisor({ INFERENCE_MODELS: modelDir, TOKENIZER_MODELS: modelDir, GATEWAY_DEFAULT_MODEL: name, ...env });
    return { topology, httpUrl: p.httpUrl, grpcUrl: p.url, pids: { mesh: p.child.pid! }, stop: async () => void (await p.stop(10_000)) };
  }
  const up = await startUpstreams({ model: modelDir, env: {} });
  let gateway: ServiceProcess;
  try {
    gateway = await startGateway(up, modelDir, { GATEWAY_LOCAL_TOKENIZERS: modelDir });
  } catch (err) {
    await Promise.all(up.all.map((p) => p.stop(5000)));
    throw err;
  }
  const all = [gateway, ...up.all];
  return {
    topology,
    httpUrl: gateway.httpUrl,
    grpcUrl: gateway.url,
    pids: Object.fromEntries(all.map((p) => [p.name, p.child.pid!])),
    stop: async () => void (await Promise.all(all.map((p) => p.stop(10_000)))),
  };
}

/** Serving-thread and whole-process CPU of each service over a load's measured window, µs. */
export type CpuByService = Record<string, { mainUs: number; totalUs: number; busiestOtherUs: number }>;

/**
 * Runs the load in a child process (its CPU is not the mesh's) and measures each mesh process's
 * threads over exactly its measured window (the child says when it starts and ends).
 */
export function loadWithCpu(mesh: RunningMesh, spec: LoadSpec): Promise<{ load: LoadResult; cpu: CpuByService }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), require.resolve('./mesh-load'), JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, MESH_LOAD_MARKS: '1' },
    });
    let out = '';
    let before: Record<string, Map<number, number>> | undefined;
    let cpu: CpuByService | undefined;
    const snap = () => Object.fromEntries(Object.entries(mesh.pids).map(([s, pid]) => [s, threadCpu(pid)]));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line === 'measuring') before = snap();
        else if (line === 'measured' && before) {
          const after = snap();
          cpu = Object.fromEntries(Object.entries(mesh.pids).map(([s, pid]) => [s, cpuBetween(pid, before![s]!, after[s]!)]));
        } else if (line.startsWith('{')) {
          if (!cpu) return reject(new Error('the load ended without marking its window'));
          resolve({ load: JSON.parse(line) as LoadResult, cpu });
        }
      }
    });
    child.once('exit', (code) => code !== 0 && reject(new Error(`load process exited with ${code}`)));
  });
}
