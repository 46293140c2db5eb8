import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Per token id the bytes it decodes to; null for special tokens (end-of-text and the like), which are no text. */
export type TokenBytes = readonly (Uint8Array | null)[];

type Json = Record<string, unknown>;

/** GPT-2's byte-level alphabet: the printable character standing for each byte. */
function byteLevelDecoder(): Map<string, number> {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (bs.includes(b)) continue;
    bs.push(b);
    cs.push(256 + n++);
  }
  return new Map(bs.map((b, i) => [String.fromCharCode(cs[i]!), b]));
}

const utf8 = new TextEncoder();

/** A SentencePiece-style piece: ▁ is a space, <0xNN> a raw byte (byte fallback). */
function pieceBytes(piece: string): Uint8Array {
  const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
  if (byte) return Uint8Array.of(parseInt(byte[1]!, 16));
  return utf8.encode(piece.replace(/\u2581/g, ' '));
}

/**
 * The bytes of every token of a tokenizer.json: byte-level vocabularies (GPT-2, Llama 3) through
 * the byte alphabet, others as their pieces' UTF-8. Guided decoding steps its automaton over them.
 * @throws Error when the file has no vocabulary
 */
export function tokenBytesOf(tokenizer: Json): TokenBytes {
  const model = tokenizer['model'] as Json | undefined;
  const vocab = model?.['vocab'];
  if (!vocab || typeof vocab !== 'object') throw new Error('tokenizer.json has no model.vocab');
  // Unigram vocabularies are [piece, score] lists; BPE and WordPiece ones piece → id maps.
  const entries: [string, number][] = Array.isArray(vocab)
    ? vocab.map((v, i) => [String((v as unknown[])[0]), i])
    : Object.entries(vocab as Record<string, number>);
  const special = new Set<number>();
  for (const t of (tokenizer['added_tokens'] as Json[] | undefined) ?? []) {
    if (t['special'] === true && typeof t['id'] === 'number') special.add(t['id']);
  }
  const decoder = tokenizer['decoder'] as Json | undefined;
  const byteLevel = decoder?.['type'] === 'ByteLevel';
  const alphabet = byteLevel ? byteLevelDecoder() : undefined;
  // A loop, not Math.max(...ids): a 128k vocabulary is more arguments than a call takes.
  let size = 0;
  for (const [, id] of entries) size = Math.max(size, id + 1);
  for (const id of special) size = Math.max(size, id + 1);
  const out: (Uint8Array | null)[] = new Array<Uint8Array | null>(size).fill(null);
  for (const [piece, id] of entries) {
    if (special.has(id)) continue;
    if (!alphabet) {
      out[id] = pieceBytes(piece);
      continue;
    }
    const bytes = [...piece].map((c) => alphabet.get(c));
    // A piece outside the alphabet is not text this decoder writes.
    out[id] = bytes.every((b) => b !== undefined) ? Uint8Array.from(bytes as number[]) : null;
  }
  return out;
}

/** tokenBytesOf the model directory's tokenizer.json. */
export async function loadTokenBytes(dir: string): Promise<TokenBytes> {
  return tokenBytesOf(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Json);
}
