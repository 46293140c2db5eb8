import { hasConnectionStatus } from '../../src';
import { type BusFixture, Connections } from './fixture';

/** Connection status: what the router reads to tell a silent worker from a silent bus. */
export function connectionContract(fixture: () => BusFixture): void {
  describe('connection status', () => {
    const conns = new Connections(fixture);
    afterEach(() => conns.closeAll());

    it('reports connected while open, and tells its listeners once when close() ends it', async () => {
      const bus = await conns.bus();
      if (!hasConnectionStatus(bus)) throw new Error('the adapter does not report its connection status');
      expect(bus.connected).toBe(true);
      const heard: boolean[] = [];
      bus.onConnectionChange((c) => heard.push(c));
      const stopped: boolean[] = [];
      bus.onConnectionChange((c) => stopped.push(c))();
      await bus.close();
      await bus.close();
      expect(bus.connected).toBe(false);
      expect(heard).toEqual([false]);
      expect(stopped).toEqual([]);
    });
  });
}
