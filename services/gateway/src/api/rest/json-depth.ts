/**
 * How deeply a REST body may nest arrays and objects. No real request comes near it (a chat
 * message's content parts are 4 levels deep); a body nested thousands deep would otherwise reach
 * code that walks it recursively (validation, cache keys, JSON.stringify) and overflow its stack.
 */
export const MAX_JSON_DEPTH = 64;

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The deepest nesting of arrays and objects in JSON text (`{}` is 1, `{"a": [1]}` is 2), brackets
 * inside strings not counted; one pass without recursion, so it is safe on any input. Malformed
 * text gets some number: JSON.parse reports it afterwards.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) deepest = Math.max(deepest, ++depth);
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return deepest;
}
