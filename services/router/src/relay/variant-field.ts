import { create, toBinary } from '@bufbuild/protobuf';
import { GenerateResponseSchema } from '@tokenmesh/proto';

/**
 * The bytes of `variant = <variant>` in a GenerateResponse (a message with only that field set),
 * to append to the worker's message: of a field present twice the last counts, so the router's
 * tag wins as when it set the field on the decoded message. Empty for no variant (proto3 writes
 * no default). Made once per attempt.
 */
export function variantField(variant: string): Uint8Array {
  return toBinary(GenerateResponseSchema, create(GenerateResponseSchema, { variant }));
}
