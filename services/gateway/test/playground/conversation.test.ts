import { Conversation } from '../../web/playground/conversation';

describe('playground conversation', () => {
  it('sends each question with every earlier turn; only answered questions join it', () => {
    const c = new Conversation();
    expect(c.ask('Who begat Enos?')).toEqual([{ role: 'user', content: 'Who begat Enos?' }]);
    c.answered('Who begat Enos?', 'Seth.');
    // A stopped answer is not recorded: asking again sends the same history.
    expect(c.ask('Quote Genesis 1:3.')).toEqual([
      { role: 'user', content: 'Who begat Enos?' },
      { role: 'assistant', content: 'Seth.' },
      { role: 'user', content: 'Quote Genesis 1:3.' },
    ]);
    expect(c.turns).toHaveLength(2);
    c.clear();
    expect(c.ask('Hi')).toEqual([{ role: 'user', content: 'Hi' }]);
  });
});
