import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { GenerateResponseSchema } from '@tokenmesh/proto';
import { frame, FrameReader } from '@tokenmesh/server';

import { variantField } from '../src/relay/variant-field';

describe("the relay's variant field", () => {
  const message = toBinary(
    GenerateResponseSchema,
    create(GenerateResponseSchema, { tokenIds: [1, 2, 3], logprobs: [-1, -2, -3], model: 'tinygpt', workerId: 'w1' }),
  );

  it('appends a variant that decodes as the field set on the message, whatever its length', () => {
    for (const variant of ['canary', 'v'.repeat(200), 'ünïcode-β']) {
      const original = message;
      const [relayed] = new FrameReader(1 << 20).push(frame(original, variantField(variant)));
      const expected = fromBinary(GenerateResponseSchema, original);
      expected.variant = variant;
      expect(fromBinary(GenerateResponseSchema, relayed!)).toEqual(expected);
    }
    expect(variantField('')).toHaveLength(0);
  });
});
