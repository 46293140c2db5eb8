import type { ConsumeOptions, ReplayOptions, StreamConfig } from './bus';
import { BusError } from './errors';
import { checkName, checkPattern } from './subject';

/** `ConsumeOptions` with defaults applied and checked; `maxDeliver` -1 means unlimited. */
export interface ResolvedConsumeOptions {
  ackWaitMs: number;
  maxDeliver: number;
  concurrency: number;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new BusError('invalid', `${name} must be a positive integer, got ${v}`);
  return v;
}

/** @throws BusError(`invalid`) for a non-positive or fractional option. */
export function resolveConsumeOptions(opts: ConsumeOptions = {}): ResolvedConsumeOptions {
  return {
    ackWaitMs: positiveInt('ackWaitMs', opts.ackWaitMs ?? 30_000),
    maxDeliver: opts.maxDeliver === undefined ? -1 : positiveInt('maxDeliver', opts.maxDeliver),
    concurrency: positiveInt('concurrency', opts.concurrency ?? 1),
  };
}

/**
 * `StreamConfig` checked as nats-server would check it, with defaults applied.
 * @throws BusError(`invalid`)
 */
export function resolveStreamConfig(config: StreamConfig): Required<StreamConfig> {
  checkName(config.name, 'stream');
  if (config.subjects.length === 0) throw new BusError('invalid', `stream ${config.name} needs at least one subject`);
  for (const s of config.subjects) checkPattern(s);
  if (config.retention !== 'limits' && config.retention !== 'workqueue') {
    throw new BusError('invalid', `retention must be limits or workqueue, got ${JSON.stringify(config.retention)}`);
  }
  return {
    name: config.name,
    subjects: [...config.subjects],
    retention: config.retention,
    duplicateWindowMs: positiveInt('duplicateWindowMs', config.duplicateWindowMs ?? 120_000),
  };
}

/** `ReplayOptions` checked. @throws BusError(`invalid`) for a bad subject pattern. */
export function resolveReplayOptions(opts: ReplayOptions = {}): ReplayOptions {
  if (!opts.subjects) return {};
  for (const s of opts.subjects) checkPattern(s);
  return { subjects: [...opts.subjects] };
}
