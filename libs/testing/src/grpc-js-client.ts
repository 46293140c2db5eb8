import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';

/** A plain grpc-js channel to `host:port`: how a non-Connect gRPC peer calls our servers. */
export function grpcJsChannel(address: string): grpc.Client {
  return new grpc.Client(address.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure());
}

function path(method: { name: string; parent: { typeName: string } }): string {
  return `/${method.parent.typeName}/${method.name}`;
}

const encode = (schema: DescMessage) => (m: MessageShape<DescMessage>) => Buffer.from(toBinary(schema, m));

/** A unary call; rejects with grpc-js's ServiceError (its `code` is the gRPC status). */
export function grpcJsUnary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  input: MessageInitShape<I>,
  metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path(method),
      encode(method.input),
      (b: Buffer) => fromBinary(method.output, b),
      create(method.input, input),
      metadata,
      (err, res) => (err ? reject(err) : resolve(res as MessageShape<O>)),
    );
  });
}

/** A server-streaming call as an async iterable of messages; errors reject the iteration. */
export function grpcJsServerStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodServerStreaming<I, O>,
  input: MessageInitShape<I>,
  metadata = new grpc.Metadata(),
): AsyncIterable<MessageShape<O>> & { cancel(): void } {
  const call = client.makeServerStreamRequest(
    path(method),
    encode(method.input),
    (b: Buffer) => fromBinary(method.output, b),
    create(method.input, input),
    metadata,
  );
  // The call already has cancel(); replacing it with a wrapper that calls call.cancel() would recurse.
  return call as unknown as AsyncIterable<MessageShape<O>> & { cancel(): void };
}
