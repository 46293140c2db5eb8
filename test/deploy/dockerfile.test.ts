import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ROOT } from './k8s-render';

// No Docker engine here (the image is not built): the Dockerfile is held to what the
// Kubernetes manifests and compose expect of the image.
describe('deploy/docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy/docker/Dockerfile'), 'utf8');
  const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+ /.test(l));

  it('builds in stages, installs production dependencies only and runs as uid 1000 (the manifests runAsUser)', () => {
    expect(instructions.filter((l) => l.startsWith('FROM ')).length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(instructions.filter((l) => l.startsWith('USER ')).pop()).toBe('USER node');
  });

  it('exposes every service port and has a HEALTHCHECK', () => {
    const exposed = instructions.find((l) => l.startsWith('EXPOSE '))!.split(/\s+/).slice(1);
    for (const port of ['50051', '8080', '50052', '9102', '50053', '9103', '50054', '9104', '50055', '9105']) expect(exposed).toContain(port);
    expect(instructions.some((l) => l.startsWith('HEALTHCHECK ') && l.includes('deploy/docker/healthcheck.cjs'))).toBe(true);
  });

  it('.dockerignore keeps node_modules, .git and the tests out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['**/node_modules', '.git', 'test', 'services/*/test']) expect(ignored).toContain(p);
  });
});
