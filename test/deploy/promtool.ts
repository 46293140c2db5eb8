import { execFileSync } from 'node:child_process';

import { findBinary } from '@tokenmesh/testing';

import { ROOT } from './k8s-render';

/** Runs Debian's promtool (bash scripts/test/ensure-deps.sh installs the prometheus package; PROMTOOL_BIN overrides) in the repository root. */
export const promtool = (...args: string[]): string =>
  execFileSync(findBinary('promtool', 'prometheus', process.env['PROMTOOL_BIN']), args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
