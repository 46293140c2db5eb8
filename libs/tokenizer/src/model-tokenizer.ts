import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';
import { loadModelConfig, type ModelSpec, type TokenBytes, tokenBytesOf } from '@tokenmesh/model';

import { ChatTemplate, type ChatTurn } from './chat-template';
import { StreamDecoder } from './stream-decoder';

type Json = Record<string, unknown>;

function specialToken(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json)['content'] === 'string') return (v as Json)['content'] as string;
  return undefined;
}

/** One model's tokenizer.json, chat template and limits. */
export class ModelTokenizer {
  private constructor(
    readonly spec: ModelSpec,
    private readonly tokenizer: Tokenizer,
    private readonly chat: ChatTemplate | undefined,
    /** tokenizer.json, for the token bytes table (built at the first logprobs request). */
    private readonly json: Json,
  ) {}

  private bytes: TokenBytes | undefined;

  /** Loads `tokenizer.json`, `tokenizer_config.json` and `config.json` from a model directory. */
  static async load(dir: string): Promise<ModelTokenizer> {
    const read = async (f: string) => JSON.parse(await readFile(join(dir, f), 'utf8')) as Json;
    const [spec, tokenizerJson, config] = await Promise.all([loadModelConfig(dir), read('tokenizer.json'), read('tokenizer_config.json')]);
    const template = config['chat_template'];
    const chat =
      typeof template === 'string'
        ? new ChatTemplate(template, { bos_token: specialToken(config['bos_token']), eos_token: specialToken(config['eos_token']) })
        : undefined;
    return new ModelTokenizer(spec, new Tokenizer(tokenizerJson, config), chat, tokenizerJson);
  }

  get name(): string {
    return this.spec.name;
  }

  encode(text: string): number[] {
    return text === '' ? [] : this.tokenizer.encode(text).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = false): string {
    // The library throws on an empty list.
    return ids.length === 0 ? '' : this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  /** The bytes a token stands for, and whether it is special (its bytes: its content). */
  tokenBytes(id: number): { bytes: Uint8Array; special: boolean } {
    this.bytes ??= tokenBytesOf(this.json);
    const bytes = this.bytes[id];
    return bytes ? { bytes, special: false } : { bytes: Buffer.from(this.decode([id])), special: true };
  }

  /** Renders messages with the model's chat template. @throws when the model has none. */
  renderChat(messages: readonly ChatTurn[], addGenerationPrompt = true): string {
    if (!this.chat) throw new Error(`model ${this.name} has no chat_template in tokenizer_config.json`);
    return this.chat.render(messages, addGenerationPrompt);
  }

  /** A detokenizer for one stream of generated ids. */
  streamDecoder(skipSpecialTokens = false): StreamDecoder {
    return new StreamDecoder((ids) => this.decode(ids, skipSpecialTokens));
  }
}
