/** Decodes token ids to text; the tokenizer's own `decode`. */
export type DecodeFn = (ids: number[]) => string;

const REPLACEMENT = '\uFFFD';

/**
 * Incremental detokenization that never emits half a character.
 *
 * Decoding token by token is wrong for byte-level vocabularies (a character may span several
 * tokens) and for tokenizers whose decoders depend on neighbours (SentencePiece's leading-space
 * handling). As in TGI and Hugging Face's DecodeStream, we decode a short window twice — up to
 * the last emitted token, and up to the newest — and emit the difference only when it does not
 * end in U+FFFD, i.e. when the newest bytes complete a character.
 */
export class StreamDecoder {
  private ids: number[] = [];
  /** Start of the window that gives decoders their left context. */
  private prefixOffset = 0;
  /** Tokens up to here have been emitted as text. */
  private readOffset = 0;

  constructor(private readonly decode: DecodeFn) {}

  private text(from: number, to: number): string {
    return from >= to ? '' : this.decode(this.ids.slice(from, to));
  }

  /** Adds ids; returns the text they complete (possibly empty while a character is incomplete). */
  push(ids: readonly number[]): string {
    let out = '';
    for (const id of ids) {
      this.ids.push(id);
      const prefix = this.text(this.prefixOffset, this.readOffset);
      const full = this.text(this.prefixOffset, this.ids.length);
      if (full.length > prefix.length && !full.endsWith(REPLACEMENT)) {
        out += full.slice(prefix.length);
        this.prefixOffset = this.readOffset;
        this.readOffset = this.ids.length;
      }
    }
    return out;
  }

  /** Text of ids not yet emitted (an incomplete character comes out as U+FFFD). */
  flush(): string {
    const prefix = this.text(this.prefixOffset, this.readOffset);
    const full = this.text(this.prefixOffset, this.ids.length);
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }
}
