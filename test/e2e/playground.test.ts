import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { InferenceService } from '@tokenmesh/proto';
import { type Browser, launchChromium, type Page, runningRequests, startSupervisor, type SupervisorProcess, waitFor } from '@tokenmesh/testing';

const KEY = 'tm-playground-0123456789abcdefghijklmnop';
/** Worker sleep per batch step: a 400-token stream lasts about 4 s, long enough to stop by hand. */
const STEP_DELAY_MS = 10;
const JAEGER = 'http://127.0.0.1:16686';
const SCREENSHOT = join(__dirname, '../../build/playground-streaming.png');

/** What the functions given to page.evaluate use in the page (this project's types have no DOM). */
interface InPage {
  readonly document: { getElementById(id: string): { readonly textContent: string | null } | null };
  readonly MutationObserver: new (callback: () => void) => { observe(target: unknown, options: Record<string, boolean>): void };
}

/** A site on an origin of its own that hosts the gateway's page: the page then calls the gateway cross-origin. */
interface PageHost {
  readonly server: Server;
  readonly origin: string;
  /** The gateway whose page (HTML and files) it serves, as fetched from it. */
  gateway: string;
}

async function pageHost(): Promise<PageHost> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host: PageHost = { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, gateway: '' };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    fetch(`${host.gateway}${req.url!.split('?')[0]}`)
      .then(async (r) => {
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
        res.end(Buffer.from(await r.arrayBuffer()));
      })
      .catch(() => res.writeHead(502).end());
  });
  return host;
}

/**
 * The playground in real Chromium against `npm start` with API keys, CORS for one other origin and
 * a Jaeger URL: the page streams through @connectrpc/connect-web exactly as a browser integrator's
 * code would, and every check reads the page as a person sees it.
 */
describe('playground (real Chromium, npm start)', () => {
  let mesh: SupervisorProcess;
  let dir: string;
  let browser: Browser;
  let allowed: PageHost;
  let refused: PageHost;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'playground-'));
    writeFileSync(join(dir, 'keys.yaml'), `- name: playground\n  sha256: ${createHash('sha256').update(KEY).digest('hex')}\n`);
    // Two hosts of the page; only the first is allowlisted. Their ports are known before the mesh starts.
    [allowed, refused] = await Promise.all([pageHost(), pageHost()]);
    mesh = await startSupervisor({
      OTEL_TRACES_EXPORTER: 'none',
      GATEWAY_API_KEYS_FILE: join(dir, 'keys.yaml'),
      GATEWAY_CORS_ORIGINS: allowed.origin,
      GATEWAY_JAEGER_URL: JAEGER,
      INFERENCE_STEP_DELAY_MS: String(STEP_DELAY_MS),
    });
    for (const host of [allowed, refused]) host.gateway = mesh.httpUrl;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const host of [allowed, refused]) host?.server.close();
    expect(await mesh?.stop()).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** Direct calls (Node, connect-node) the page's results are compared with. */
  const predict = () =>
    createClient(
      InferenceService,
      createConnectTransport({
        baseUrl: mesh.httpUrl,
        httpVersion: '1.1',
        interceptors: [(next) => (r) => (r.header.set('authorization', `Bearer ${KEY}`), next(r))],
      }),
    );

  // Each test's page has a context of its own (no state shared), closed after it even when it fails.
  const contexts: Awaited<ReturnType<Browser['newContext']>>[] = [];
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });

  /** A new page at `url`, with the API key typed when given. */
  async function open(url: string, key: string | null = KEY): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(url);
    if (key !== null) {
      await page.getByLabel('API key').fill(key);
      await page.getByLabel('API key').dispatchEvent('change');
      await waitFor(async () => (await page.locator('#model option').count()) > 0, { timeoutMs: 10_000, intervalMs: 50 });
    }
    return page;
  }

  async function fill(page: Page, fields: Record<string, string>): Promise<void> {
    for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value);
  }

  // Waits go through locators: the page's CSP (no eval) refuses waitForFunction's predicates.
  /** Waits until the element `selector` shows text matching `text`. */
  const shows = (page: Page, selector: string, text: RegExp, timeout = 20_000) => page.locator(selector).filter({ hasText: text }).first().waitFor({ timeout });
  /** The stream has finished: the finish reason is shown last. */
  const finished = (page: Page) => page.locator('#finish').filter({ hasNotText: /^–$/ }).waitFor({ timeout: 20_000 });

  /** Types `fields`, presses Send and waits for the stream to finish. */
  async function complete(page: Page, fields: Record<string, string>): Promise<void> {
    await fill(page, fields);
    await page.getByRole('button', { name: 'Send' }).click();
    await finished(page);
  }

  it('says a key is needed when keys are configured and none is typed (401)', async () => {
    const page = await open(`${mesh.httpUrl}/playground`, null);
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.locator('#error').textContent()).toMatch(/^401 — the gateway needs an API key/);
    // Readable on a narrow window: one column, nothing wider than the viewport.
    await page.setViewportSize({ width: 380, height: 800 });
    const widths = await page.evaluate(() => {
      const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
      return [root.scrollWidth, root.clientWidth];
    });
    expect(widths[0]).toBeLessThanOrEqual(widths[1]!);
  });

  it('streams a completion: the output grows before the finish reason, and equals a Predict of the same seeded request', async () => {
    const page = await open(`${mesh.httpUrl}/playground`);
    await page.locator('#model').selectOption('tinygpt');
    await fill(page, { Temperature: '0.8', 'Top-p': '0.95', 'Top-k': '40', 'Max tokens': '60', Seed: '11', Prompt: 'And God said' });
    // Counts the output's changes until the finish reason appears, and shoots the page mid-stream.
    await page.evaluate(() => {
      const w = globalThis as unknown as InPage & { changes: number };
      w.changes = 0;
      const finish = w.document.getElementById('finish')!;
      new w.MutationObserver(() => void (finish.textContent === '–' && (w.changes += 1))).observe(w.document.getElementById('output')!, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await page.getByRole('button', { name: 'Send' }).click();
    await shows(page, '#output', /.{20}/s);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await finished(page);
    expect(await page.evaluate(() => (globalThis as unknown as { changes: number }).changes)).toBeGreaterThanOrEqual(3);
    const text = await page.locator('#output').textContent();
    // Another routing key: not the page's cache entry, a generation of its own.
    const direct = await predict().predict({
      model: 'tinygpt',
      prompt: 'And God said',
      routingKey: 'node-check',
      sampling: { temperature: 0.8, topP: 0.95, topK: 40, maxTokens: 60, seed: 11n },
    });
    expect(text).toBe(direct.text);
    const cell = (id: string) => page.locator(`#${id}`).textContent();
    expect(await cell('finish')).toMatch(/^(length|stop)/);
    expect(await cell('usage')).toBe(`${direct.usage!.promptTokens} / ${direct.usage!.completionTokens} / ${direct.usage!.totalTokens}`);
    expect(await cell('ttft')).toMatch(/^\d+(\.\d)? ms$/);
    expect(Number(await cell('rate'))).toBeGreaterThan(0);
    expect(await cell('served-model')).toBe('tinygpt@1');
    expect(await cell('worker')).toBe(direct.workerId);
    expect(direct.workerId).not.toBe('');
    expect(await cell('cache')).toBe('miss');
    const trace = page.locator('#trace a');
    expect(await trace.textContent()).toMatch(/^[0-9a-f]{32}$/);
    expect(await trace.getAttribute('href')).toBe(`${JAEGER}/trace/${await trace.textContent()}`);
  }, 60_000);

  it('streams over gRPC-Web too', async () => {
    const page = await open(`${mesh.httpUrl}/playground`);
    await page.getByLabel('Protocol').selectOption('grpc-web');
    await complete(page, { Temperature: '0', 'Max tokens': '12', Prompt: 'In the beginning' });
    const direct = await predict().predict({
      model: 'tinygpt',
      prompt: 'In the beginning',
      routingKey: 'grpc-web-check',
      sampling: { temperature: 0, maxTokens: 12 },
    });
    expect(await page.locator('#output').textContent()).toBe(direct.text);
  }, 60_000);

  it('Stop cancels the stream: the worker runs nothing within a second', async () => {
    const worker = mesh.extra['inference']!;
    const page = await open(`${mesh.httpUrl}/playground`);
    await fill(page, { Temperature: '0.8', 'Max tokens': '400', Seed: '', Prompt: 'In the beginning' });
    await page.getByRole('button', { name: 'Send' }).click();
    await shows(page, '#output', /.{10}/s);
    expect(await runningRequests(worker)).toBe(1);
    await page.getByRole('button', { name: 'Stop' }).click();
    const t0 = performance.now();
    await waitFor(async () => (await runningRequests(worker)) === 0, { timeoutMs: 5000, intervalMs: 10 });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await page.locator('#status').textContent()).toMatch(/^Stopped after \d+ chunks?\.$/);
    expect(await page.locator('#finish').textContent()).toBe('cancelled');
  }, 60_000);

  it('chat mode keeps the conversation: the second question is sent with the first turn and its answer', async () => {
    const page = await open(`${mesh.httpUrl}/playground`);
    const bodies: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/StreamPredict')) bodies.push(r.postDataBuffer()!.subarray(5).toString('utf8'));
    });
    await page.getByRole('radio', { name: 'Chat' }).check();
    await page.locator('#model').selectOption('tinygpt-chat');
    await fill(page, { Temperature: '0', 'Max tokens': '40' });
    const first = 'Who begat Enos?';
    const second = 'Quote Genesis 1:3.';
    await page.getByLabel('Message').fill(first);
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#turns li').nth(1).waitFor({ timeout: 20_000 });
    const answer1 = (await page.locator('#output').textContent()) ?? '';
    await page.getByLabel('Message').fill(second);
    await page.getByLabel('Message').press('Control+Enter');
    await page.locator('#turns li').nth(3).waitFor({ timeout: 20_000 });
    const answer2 = (await page.locator('#output').textContent()) ?? '';
    const history = [
      { role: 'user', content: first },
      { role: 'assistant', content: answer1 },
      { role: 'user', content: second },
    ];
    expect((JSON.parse(bodies[1]!) as { messages: unknown }).messages).toEqual(history);
    expect(await page.locator('#turns li').allTextContents()).toEqual([`user: ${first}`, `assistant: ${answer1}`, `user: ${second}`, `assistant: ${answer2}`]);
    const direct = await predict().predict({ model: 'tinygpt-chat', messages: history, routingKey: 'chat-check', sampling: { temperature: 0, maxTokens: 40 } });
    expect(answer2).toBe(direct.text);
    expect(answer1).not.toBe('');
  }, 60_000);

  it('a thumbs-up reaches the per-variant report; a repeated greedy request shows a cache hit', async () => {
    const page = await open(`${mesh.httpUrl}/playground`);
    // tinyllama: one version, so keyless requests are cached (tinygpt's two versions are not, see served-versions).
    await page.locator('#model').selectOption('tinyllama');
    await complete(page, { Temperature: '0', 'Max tokens': '8', Prompt: 'Feedback here' });
    expect(await page.locator('#cache').textContent()).toBe('miss');
    await page.getByRole('button', { name: 'Good answer' }).click();
    await shows(page, '#feedback-status', /recorded/);
    // The report is built from the feedback stream: it may take a moment to count it.
    /** tinyllama's report row once it counts `count` feedbacks. */
    const rated = async (count = '1') => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      const rows = await Promise.all((await page.locator('#report tr').all()).map((tr) => tr.locator('td').allTextContents()));
      return rows.find((r) => r[0]?.startsWith('tinyllama') && r[5] === count);
    };
    await waitFor(async () => (await rated()) !== undefined, { timeoutMs: 15_000, intervalMs: 250 });
    expect((await rated())![6]).toBe('1.00');
    // The same greedy request again: answered from the response cache, the same text; feedback on it counts too.
    const text = await page.locator('#output').textContent();
    await page.getByRole('button', { name: 'Send' }).click();
    await shows(page, '#status', /^Done\.$/);
    expect([await page.locator('#cache').textContent(), await page.locator('#output').textContent()]).toEqual(['hit', text]);
    await page.getByRole('button', { name: 'Bad answer' }).click();
    await shows(page, '#feedback-status', /recorded/);
    await waitFor(async () => (await rated('2')) !== undefined, { timeoutMs: 15_000, intervalMs: 250 });
    expect((await rated('2'))![6]).toBe('0.00');
  }, 60_000);

  it('streams from another origin only when GATEWAY_CORS_ORIGINS lists it', async () => {
    for (const [host, ok] of [
      [allowed, true],
      [refused, false],
    ] as const) {
      const page = await open(`${host.origin}/playground?gateway=${encodeURIComponent(mesh.httpUrl)}`, ok ? KEY : null);
      if (ok) {
        await complete(page, { Temperature: '0', 'Max tokens': '8', Prompt: 'From elsewhere' });
        expect(await page.locator('#output').textContent()).not.toBe('');
        expect(await page.locator('#error').isHidden()).toBe(true);
      } else {
        await page.locator('#error').waitFor({ state: 'visible' });
        expect(await page.locator('#error').textContent()).toContain('GATEWAY_CORS_ORIGINS');
        await page.getByLabel('API key').fill(KEY);
        await fill(page, { Prompt: 'From elsewhere' });
        await page.getByRole('button', { name: 'Send' }).click();
        await shows(page, '#status', /^Failed\.$/);
        expect(await page.locator('#output').textContent()).toBe('');
        expect(await page.locator('#error').textContent()).toContain('cannot be reached');
      }
    }
  }, 60_000);
});
