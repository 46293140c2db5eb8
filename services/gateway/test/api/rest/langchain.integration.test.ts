import { resolve } from 'node:path';

import { ChatOpenAI, OpenAI } from '@langchain/openai';

import { restApi } from '../../../src/api/rest/rest-api';
import { fakeFeedback, listen } from '../../fakes';
import { inMemoryMesh, MODELS_DIR } from '../../in-memory-mesh';

/** LangChain's OpenAI classes, as an app built on LangChain calls the gateway (no key, our base URL). */
describe('LangChain (@langchain/openai) against the gateway', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  const config = () => ({ baseURL: `${http.base}/v1` });

  beforeAll(async () => {
    mesh = await inMemoryMesh(resolve(MODELS_DIR, 'tinygpt'), { adapters: [resolve(MODELS_DIR, 'tinygpt-chat')] });
    http = await listen(restApi({ upstreams: mesh.upstreams, feedback: fakeFeedback(), bodyLimitBytes: 64 * 1024 }));
  }, 60_000);
  afterAll(async () => {
    await http.close();
    await mesh.close();
  });

  it('the completions class (it always sends prompt: [text]) answers as a plain completion; batch() gets one answer per prompt', async () => {
    const llm = new OpenAI({ model: 'tinygpt', apiKey: 'unused', temperature: 0, maxTokens: 12, maxRetries: 0, configuration: config() });
    const plain = await fetch(`${http.base}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tinygpt', prompt: 'In the beginning', max_tokens: 12, temperature: 0 }),
    });
    const expected = ((await plain.json()) as { choices: { text: string }[] }).choices[0]!.text;
    expect(await llm.invoke('In the beginning')).toBe(expected);
    const both = await llm.batch(['In the beginning', 'The Jargon File']);
    expect(both[0]).toBe(expected);
    expect(both).toHaveLength(2);
  });

  it('ChatOpenAI gets the chat adapter’s answer, whole and streamed', async () => {
    const chat = new ChatOpenAI({ model: 'tinygpt-chat', apiKey: 'unused', temperature: 0, maxTokens: 24, maxRetries: 0, configuration: config() });
    const whole = await chat.invoke('Who begat Enos?');
    expect(typeof whole.content).toBe('string');
    expect((whole.content as string).length).toBeGreaterThan(0);
    let streamed = '';
    for await (const c of await chat.stream('Who begat Enos?')) streamed += c.content as string;
    expect(streamed).toBe(whole.content);
  });
});
