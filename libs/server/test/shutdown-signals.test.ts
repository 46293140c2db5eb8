import { EventEmitter } from 'node:events';

import { onShutdownSignals } from '../src';

describe('onShutdownSignals', () => {
  const setup = (shutdown: () => Promise<void>) => {
    const target = new EventEmitter();
    const exits: number[] = [];
    const dispose = onShutdownSignals(shutdown, { target, exit: (code) => exits.push(code) });
    return { target, exits, dispose };
  };

  it('runs shutdown once on SIGTERM, then exits 0', async () => {
    const shutdown = jest.fn(() => Promise.resolve());
    const { target, exits } = setup(shutdown);
    target.emit('SIGTERM', 'SIGTERM');
    await new Promise((r) => setImmediate(r));
    expect(shutdown).toHaveBeenCalledTimes(1);
    expect(exits).toEqual([0]);
  });

  it('exits at once with 128 + signal on a second signal while shutting down', () => {
    const shutdown = jest.fn(() => new Promise<void>(() => undefined)); // a drain that hangs
    const { target, exits } = setup(shutdown);
    target.emit('SIGTERM', 'SIGTERM');
    target.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([130]);
  });

  it('exits 1 when shutdown fails, and stops listening once disposed', async () => {
    const { target, exits, dispose } = setup(() => Promise.reject(new Error('flush failed')));
    target.emit('SIGINT', 'SIGINT');
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([1]);
    dispose();
    expect(target.listenerCount('SIGTERM') + target.listenerCount('SIGINT')).toBe(0);
  });
});
