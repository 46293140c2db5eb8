import { resolve } from 'node:path';

import { loadReference } from '@tokenmesh/model';
import OpenAI from 'openai';

import { restApi } from '../../../src/api/rest/rest-api';
import { fakeFeedback, listen } from '../../fakes';
import { inMemoryMesh, MODELS_DIR } from '../../in-memory-mesh';

const dir = (name: string) => resolve(MODELS_DIR, name);

/** The `openai` client asking for LoRA adapters of tinygpt by name, as models of their own. */
describe('LoRA adapters through the REST API', () => {
  let http: Awaited<ReturnType<typeof listen>>;
  let mesh: Awaited<ReturnType<typeof inMemoryMesh>>;
  let client: OpenAI;

  beforeAll(async () => {
    mesh = await inMemoryMesh(dir('tinygpt'), { adapters: [dir('tinygpt-chat'), dir('tinygpt-jargon')] });
    http = await listen(restApi({ upstreams: mesh.upstreams, feedback: fakeFeedback(), bodyLimitBytes: 64 * 1024 }));
    client = new OpenAI({ baseURL: `${http.base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
  }, 60_000);
  afterAll(async () => {
    await http.close();
    await mesh.close();
  });

  /** A greedy chat answer for one user question. */
  const ask = async (model: string, question: string, maxTokens = 48) => {
    const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: question }], temperature: 0, max_tokens: maxTokens });
    return { text: r.choices[0]!.message.content, finish: r.choices[0]!.finish_reason, model: r.model };
  };

  it('chat completions of both adapters at once, on the base’s worker, answer as their PyTorch references (chat template of the base)', async () => {
    const chat = (await loadReference(dir('tinygpt-chat'))).cases as unknown as { questions: string[]; greedy_text: string[]; finish_reason: string[] }[];
    const jargon = (await loadReference(dir('tinygpt-jargon'))).cases as unknown as { questions: string[]; greedy_text: string[]; finish_reason: string[] }[];
    const asked = [chat[1]!, chat[2]!, jargon[0]!];
    const models = ['tinygpt-chat', 'tinygpt-chat', 'tinygpt-jargon'];
    const got = await Promise.all(asked.map((c, i) => ask(models[i]!, c.questions[0]!)));
    expect(got).toEqual(asked.map((c, i) => ({ text: c.greedy_text[0], finish: c.finish_reason[0] === 'stop' ? 'stop' : 'length', model: `${models[i]}@1` })));
    // The same question to the base itself (no adapter row in that pass) does not get the adapter's answer.
    expect(await ask('tinygpt', chat[2]!.questions[0]!)).not.toEqual(got[1]);
  });

  it('lists the adapters as models with their base as parent (models.list and models.retrieve)', async () => {
    const listed: Record<string, unknown>[] = [];
    for await (const m of client.models.list()) listed.push(m as unknown as Record<string, unknown>);
    expect(listed.map((m) => [m['id'], m['parent']])).toEqual([
      ['tinygpt', undefined],
      ['tinygpt-chat', 'tinygpt'],
      ['tinygpt-jargon', 'tinygpt'],
      ['tinygpt@1', undefined],
      ['tinygpt-chat@1', 'tinygpt'],
      ['tinygpt-jargon@1', 'tinygpt'],
    ]);
    expect(await client.models.retrieve('tinygpt-chat')).toMatchObject({ id: 'tinygpt-chat', parent: 'tinygpt', context_length: 512 });
  });

  it('streams an adapter’s answer with the same text as the non-streamed one', async () => {
    const whole = await ask('tinygpt-chat', 'Who begat Enos?');
    let text = '';
    for await (const chunk of await client.chat.completions.create({
      model: 'tinygpt-chat',
      messages: [{ role: 'user', content: 'Who begat Enos?' }],
      temperature: 0,
      max_tokens: 48,
      stream: true,
    })) {
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(whole.text);
  });
});
