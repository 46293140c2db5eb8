import { resolve } from 'node:path';

import { ChatTemplate } from '../src/chat-template';
import { ModelTokenizer } from '../src/model-tokenizer';

describe('chat templates', () => {
  it("renders the model's role-tagged template with a generation prompt", async () => {
    const tok = await ModelTokenizer.load(resolve(__dirname, '../../../models/tinyllama'));
    const text = tok.renderChat([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Who is Bob?' },
    ]);
    expect(text).toBe('<|system|>\nBe brief.\n<|user|>\nWho is Bob?\n<|assistant|>\n');
    expect(tok.renderChat([{ role: 'user', content: 'x' }], false)).toBe('<|user|>\nx\n');
  });

  it('passes bos/eos tokens to templates that use them', () => {
    const t = new ChatTemplate("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{{ eos_token }}{% endfor %}", { bos_token: '<s>', eos_token: '</s>' });
    expect(t.render([{ role: 'user', content: 'a' }])).toBe('<s>a</s>');
  });

  it.each([
    [[], 'messages: at least one message is required'],
    [[{ role: 'wizard', content: 'x' }], 'messages[0].role: must be one of system, user, assistant, tool, got "wizard"'],
    [
      [
        { role: 'user', content: 'x' },
        { role: 'user', content: 3 },
      ],
      'messages[1].content: must be a string',
    ],
  ])('rejects %j naming the field', (messages, error) => {
    const t = new ChatTemplate('{{ messages[0].content }}', {});
    expect(() => t.render(messages as never)).toThrow(error);
  });
});
