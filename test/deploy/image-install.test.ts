import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT } from './k8s-render';

/** What the Dockerfile's first stage copies into the build: the files that its `npm ci` installs from. */
const COPIED = ['package.json', 'package-lock.json', 'libs', 'services', 'models/tinygpt', 'deploy/router'];

const ENV: Record<string, Record<string, string>> = {
  tokenizer: { TOKENIZER_PORT: '0', TOKENIZER_HTTP_PORT: '0', TOKENIZER_MODELS: 'models/tinygpt' },
  inference: { INFERENCE_PORT: '0', INFERENCE_HTTP_PORT: '0', INFERENCE_MODELS: 'models/tinygpt' },
  router: { ROUTER_PORT: '0', ROUTER_HTTP_PORT: '0', ROUTER_WORKERS: 'http://127.0.0.1:1' },
  feedback: { FEEDBACK_PORT: '0', FEEDBACK_HTTP_PORT: '0' },
  gateway: { GATEWAY_GRPC_PORT: '0', GATEWAY_HTTP_PORT: '0', GATEWAY_LOCAL_TOKENIZERS: 'models/tinygpt' },
};

/** Runs the image's command for one service in `dir` until it logs `service started` (or fails). */
function starts(dir: string, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', `services/${service}/src/main.ts`], {
      cwd: dir,
      // Only what the image has: no inherited NODE_PATH or loader from this jest process.
      env: { PATH: process.env['PATH'] ?? '', HOME: dir, NODE_ENV: 'production', OTEL_SDK_DISABLED: 'true', ...ENV[service] },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`${service} did not start:\n${out}`))), 60_000);
    const read = (c: Buffer) => {
      out += c.toString();
      if (out.includes('"msg":"service started"')) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve(service);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('"msg":"service started"')) reject(new Error(`${service} exited with ${code}:\n${out.slice(-2000)}`));
    });
  });
}

// No Docker engine here: the image's dependency stage is run as the Dockerfile runs it (a
// production-only install without install scripts, from the lock file, in a tree holding only what
// the image copies), and every service must start from it with the image's command.
describe('the image: production dependencies only', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenmesh-image-'));
    // The working tree's files (uncommitted changes included), as the build context would carry them.
    execFileSync('sh', ['-c', `tar -c --exclude=node_modules ${COPIED.join(' ')} | tar -x -C ${dir}`], { cwd: ROOT });
    // --prefer-offline: the packages are in npm's cache after the checkout's own `npm ci`.
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', NODE_ENV: 'production' },
      stdio: 'ignore',
    });
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the Dockerfile installs as this test does', () => {
    const dockerfile = readFileSync(join(ROOT, 'deploy/docker/Dockerfile'), 'utf8');
    expect(dockerfile).toContain('RUN npm ci --omit=dev --ignore-scripts');
    expect(dockerfile).toContain('CMD ["sh", "-c", "exec node --require tsx/cjs services/${SERVICE}/src/main.ts"]');
  });

  it('every service starts with the image command', async () => {
    expect(await Promise.all(Object.keys(ENV).map((s) => starts(dir, s)))).toEqual(Object.keys(ENV));
  }, 120_000);
});
