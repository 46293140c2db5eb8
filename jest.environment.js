/**
 * jest runs tests in a separate V8 context whose typed-array constructors differ from the ones
 * native addons use. onnxruntime-node returns outputs built in the outer context and then checks
 * `data instanceof Float32Array` inside the test context, which fails ("A float32 tensor's data
 * must be type of Float32Array"). Sharing the outer constructors makes both sides agree.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class TokenmeshEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = TokenmeshEnvironment;
