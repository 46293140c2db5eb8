import type { LoggedToken, TokenLogprob } from '../../pipeline/token-logprobs';

type Json = Record<string, unknown>;

const utf8 = new TextDecoder();

/** A token's text: its bytes as UTF-8 (a token inside a character shows U+FFFD; `bytes` says what it is). */
const tokenText = (t: LoggedToken) => utf8.decode(Uint8Array.from(t.bytes));

/** Completion tokens as logprobs show them: special ones (end-of-text) are no text of the answer. */
const textTokens = (tokens: readonly TokenLogprob[]) => tokens.filter((t) => !t.special);

/**
 * Chat's `logprobs` for some of a choice's tokens: `{content: [{token, logprob, bytes,
 * top_logprobs: [{token, logprob, bytes}]}], refusal: null}`.
 */
export function chatLogprobs(tokens: readonly TokenLogprob[]): Json {
  const one = (t: LoggedToken) => ({ token: tokenText(t), logprob: t.logprob, bytes: [...t.bytes] });
  return { content: textTokens(tokens).map((t) => ({ ...one(t), top_logprobs: (t.top ?? []).map(one) })), refusal: null };
}

/** Whether `bytes` end inside a UTF-8 character that the next bytes could still complete. */
function endsMidCharacter(bytes: readonly number[]): boolean {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back]!;
    if (b >= 0x80 && b <= 0xbf) continue;
    // A lead byte: incomplete if it wants more continuation bytes than follow it.
    const wants = b >= 0xf0 && b <= 0xf4 ? 3 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xc2 && b <= 0xdf ? 1 : 0;
    return wants >= back;
  }
  return false;
}

/**
 * The legacy completions' `logprobs` of one choice, built chunk by chunk: `{tokens,
 * token_logprobs, top_logprobs: [{token: logprob}] (the alternatives and the chosen token, as
 * OpenAI's), text_offset}`. Offsets index the choice's text (after an echoed prompt) in UTF-16
 * code units, as JavaScript and OpenAI's Python client index strings: a token inside a
 * character starts where the character does, and bytes that never became a character count
 * as the U+FFFD the text shows for them.
 */
export class CompletionLogprobs {
  /** Decodes the choice's bytes as they come, holding an unfinished character back. */
  private readonly decoder = new TextDecoder();
  /** UTF-16 units the decoder has given so far, after the echoed prompt. */
  private emitted: number;
  /** The last bytes (a character is at most 4): whether one is unfinished. */
  private tail: number[] = [];

  constructor(start: number) {
    this.emitted = start;
  }

  next(tokens: readonly TokenLogprob[]): Json {
    const own = textTokens(tokens);
    const text_offset = own.map((t) => {
      // An unfinished character before this token: it starts there if this token continues it,
      // else it is already one U+FFFD of the text.
      const continues = t.bytes.length > 0 && t.bytes[0]! >= 0x80 && t.bytes[0]! <= 0xbf;
      const at = this.emitted + (endsMidCharacter(this.tail) && !continues ? 1 : 0);
      this.emitted += this.decoder.decode(Uint8Array.from(t.bytes), { stream: true }).length;
      this.tail = [...this.tail, ...t.bytes].slice(-3);
      return at;
    });
    return {
      tokens: own.map(tokenText),
      token_logprobs: own.map((t) => t.logprob),
      top_logprobs: own.map((t) => Object.fromEntries([...(t.top ?? []), t].map((a) => [tokenText(a), a.logprob]))),
      text_offset,
    };
  }
}
