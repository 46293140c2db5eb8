/** One turn of a chat, as ChatMessage takes it. */
export interface Turn {
  readonly role: 'user' | 'assistant';
  readonly content: string;
}

/**
 * The chat so far. A question is sent with every earlier turn; its answer joins the conversation
 * only once the stream finished, so a stopped or failed answer can be asked again.
 */
export class Conversation {
  #turns: Turn[] = [];

  get turns(): readonly Turn[] {
    return this.#turns;
  }

  /** The messages a new question is sent with. */
  ask(question: string): Turn[] {
    return [...this.#turns, { role: 'user', content: question }];
  }

  /** Records a question and its whole answer. */
  answered(question: string, answer: string): void {
    this.#turns = [...this.#turns, { role: 'user', content: question }, { role: 'assistant', content: answer }];
  }

  clear(): void {
    this.#turns = [];
  }
}
