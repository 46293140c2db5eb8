import { Template } from '@huggingface/jinja';

/** One chat turn. */
export interface ChatTurn {
  role: string;
  content: string;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

/**
 * A model's `chat_template` (Jinja, from tokenizer_config.json), parsed once and rendered per
 * request with the variables Hugging Face templates expect.
 */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    source: string,
    private readonly specials: { bos_token?: string; eos_token?: string },
  ) {
    this.template = new Template(source);
  }

  /**
   * @throws Error naming the offending message when a role is unknown or content is not text.
   */
  render(messages: readonly ChatTurn[], addGenerationPrompt = true): string {
    if (messages.length === 0) throw new Error('messages: at least one message is required');
    messages.forEach((m, i) => {
      if (!ROLES.has(m.role)) throw new Error(`messages[${i}].role: must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(m.role)}`);
      if (typeof m.content !== 'string') throw new Error(`messages[${i}].content: must be a string`);
    });
    return this.template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: addGenerationPrompt,
      ...this.specials,
    });
  }
}
