import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type ServiceProcess, startServiceProcess, waitFor } from '@tokenmesh/testing';

import { find, K8S, render, ROOT } from './k8s-render';

/**
 * What the kubelet does to a ConfigMap volume (its AtomicWriter): the files live in a
 * timestamped directory, `..data` links to it and each key links through `..data`; an update
 * writes a new directory and renames a new `..data` link over the old one. The file's path never
 * changes, only what it resolves to.
 */
class ConfigMapVolume {
  private generation = 0;
  private current: string | undefined;
  constructor(readonly dir: string) {}

  write(files: Record<string, string>): void {
    const version = `..2026_12_02_00_00_${String(this.generation++).padStart(2, '0')}.${process.pid}`;
    mkdirSync(join(this.dir, version));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(this.dir, version, name), text);
    symlinkSync(version, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      try {
        symlinkSync(join('..data', name), join(this.dir, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true });
    this.current = version;
  }
}

async function reloads(router: ServiceProcess, outcome: 'ok' | 'error'): Promise<number> {
  const text = await (await fetch(`${router.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('tokenmesh_router_config_reloads_total{') && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

// The router is started as the router Deployment configures it, on a volume laid out as the
// kubelet lays out the router-traffic ConfigMap; updates must reach it without a restart.
describe('router traffic ConfigMap', () => {
  const volume = new ConfigMapVolume(mkdtempSync(join(tmpdir(), 'router-traffic-')));
  const traffic = find(render(join(K8S, 'overlays/dev')), 'ConfigMap', 'router-traffic')!.data!['traffic.yaml']!;
  let router: ServiceProcess;

  beforeAll(async () => {
    volume.write({ 'traffic.yaml': traffic });
    router = await startServiceProcess('router', {
      ROUTER_PORT: '0',
      ROUTER_HTTP_PORT: '0',
      // No NATS here: a static worker satisfies the config; no request is sent to it.
      ROUTER_WORKERS: 'http://127.0.0.1:9',
      ROUTER_CONFIG_FILE: join(volume.dir, 'traffic.yaml'),
      ROUTER_CONFIG_POLL_MS: '50',
      OTEL_TRACES_EXPORTER: 'none',
    });
  });

  afterAll(async () => {
    await router?.stop();
    rmSync(volume.dir, { recursive: true, force: true });
  });

  it('reloads an updated ConfigMap (a ..data symlink swap), and keeps the previous config when the update is invalid', async () => {
    expect(await reloads(router, 'ok')).toBe(0);
    volume.write({ 'traffic.yaml': traffic.replace(/^strategy: p2c/m, 'strategy: least-connections') });
    await waitFor(async () => (await reloads(router, 'ok')) === 1, { timeoutMs: 10_000, intervalMs: 50 });
    volume.write({ 'traffic.yaml': 'strategy: fastest\n' });
    await waitFor(async () => (await reloads(router, 'error')) === 1, { timeoutMs: 10_000, intervalMs: 50 });
    expect(await reloads(router, 'ok')).toBe(1);
    expect(router.child.exitCode).toBeNull();
  });

  it("the image's healthcheck reads the service's /ready on its HTTP port", () => {
    const check = (port: string) => () =>
      execFileSync(process.execPath, [join(ROOT, 'deploy/docker/healthcheck.cjs')], { env: { ...process.env, SERVICE: 'router', ROUTER_HTTP_PORT: port }, stdio: 'pipe' });
    expect(check(new URL(router.httpUrl).port)).not.toThrow();
    // Port 9 (discard) has no listener here: unhealthy.
    expect(check('9')).toThrow();
  });
});
