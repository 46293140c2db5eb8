import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian puts daemons in sbin, which is not on a non-root PATH: look there too. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];

/** Thrown when a server binary a test needs is not installed; the message says how to install it. */
export class MissingBinaryError extends Error {
  constructor(
    readonly binary: string,
    readonly debianPackage: string,
    searched: string,
  ) {
    super(`${binary} not found (searched ${searched}). Install it with: ` + `apt-get install -y ${debianPackage}  (or run: bash scripts/test/ensure-deps.sh)`);
    this.name = 'MissingBinaryError';
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of `name`: the override (an env variable or option) when given, else the first
 * executable on PATH or in the sbin/bin directories.
 * @throws MissingBinaryError naming the binary and the apt-get line.
 */
export function findBinary(name: string, debianPackage: string, override?: string): string {
  if (override !== undefined) {
    if (executable(override)) return override;
    throw new MissingBinaryError(name, debianPackage, override);
  }
  const dirs = [...new Set([...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS])];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  throw new MissingBinaryError(name, debianPackage, `PATH and ${EXTRA_DIRS.join(', ')}`);
}
