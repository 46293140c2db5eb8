import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { findBinary, freePort, waitFor } from '@tokenmesh/testing';
import { stringify } from 'yaml';

/** One result of an instant query: its labels and value. */
export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A real Prometheus (Debian's package; PROMETHEUS_BIN overrides) on a free loopback port. */
export interface PrometheusServer {
  readonly url: string;
  query(promql: string): Promise<Sample[]>;
  /** Names of the alerts now firing. */
  firing(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus scraping `targets` (host:port of /metrics) every second and evaluating
 * `ruleFiles` (given as YAML texts) every second; resolves once it is ready.
 */
export async function startPrometheus(targets: readonly string[], ruleFiles: readonly string[]): Promise<PrometheusServer> {
  const binary = findBinary('prometheus', 'prometheus', process.env['PROMETHEUS_BIN']);
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  const rules = ruleFiles.map((text, i) => {
    const file = join(dir, `rules-${i}.yml`);
    writeFileSync(file, text);
    return file;
  });
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: rules,
    scrape_configs: [{ job_name: 'tokenmesh', static_configs: [{ targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => child.exitCode === null && (await fetch(`${url}/-/ready`)).ok, { timeoutMs: 20_000, intervalMs: 100 });
  } catch (err) {
    await stop();
    throw new Error(`prometheus did not become ready: ${(err as Error).message}\n${output}`);
  }
  const api = async <T>(path: string): Promise<T> => {
    const body = (await (await fetch(`${url}${path}`)).json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? body.status}`);
    return body.data;
  };
  return {
    url,
    query: async (promql) => (await api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    firing: async () =>
      (await api<{ alerts: { labels: { alertname: string }; state: string }[] }>('/api/v1/alerts')).alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname),
    stop,
  };
}
