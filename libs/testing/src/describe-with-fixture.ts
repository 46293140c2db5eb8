/**
 * A describe block whose fixture starts once (beforeAll) and is torn down after (afterAll);
 * tests reach it through `get()`. Contract suites run once per adapter this way.
 */
export function describeWithFixture<F extends { teardown(): Promise<void> }>(title: string, start: () => Promise<F>, body: (get: () => F) => void): void {
  describe(title, () => {
    let fixture: F | undefined;
    const get = (): F => {
      if (!fixture) throw new Error(`${title}: fixture not started`);
      return fixture;
    };
    beforeAll(async () => {
      fixture = await start();
    });
    afterAll(async () => {
      await fixture?.teardown();
    });
    body(get);
  });
}
