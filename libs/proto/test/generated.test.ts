import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const GEN = join(ROOT, 'libs/proto/src/gen');
const BIN = join(ROOT, 'node_modules/.bin');
const env = { ...process.env, PATH: `${BIN}:${process.env['PATH'] ?? ''}` };

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

describe('generated protobuf code', () => {
  it('passes buf lint', () => {
    expect(() => execFileSync('buf', ['lint'], { cwd: ROOT, env, stdio: 'pipe' })).not.toThrow();
  });

  it('is what `npm run generate` produces from proto/ (regenerate and commit when this fails)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tokenmesh-gen-'));
    try {
      execFileSync('buf', ['generate', '--output', tmp], { cwd: ROOT, env, stdio: 'pipe' });
      const fresh = files(join(tmp, 'libs/proto/src/gen'));
      const committed = files(GEN);
      expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
      for (const [path, text] of fresh) expect([path, committed.get(path)]).toEqual([path, text]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
