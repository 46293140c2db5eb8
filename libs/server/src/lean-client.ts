import type { DescMethod, DescMethodStreaming, DescMethodUnary, DescService } from '@bufbuild/protobuf';
import { type CallOptions, type Client, Code, ConnectError, makeAnyClient, type StreamResponse, type Transport } from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';

/**
 * A response stream as connect-es's own client hands it out (headers reported before the first
 * message, trailers after the last, no return(): cancel with the call's signal), as a
 * hand-written iterator. connect-es's is a down-levelled async generator, several promises per
 * message, and every token of a generation passes through one on each hop.
 */
function responseStream(response: Promise<StreamResponse>, options: CallOptions | undefined): AsyncIterable<unknown> {
  // Failures surface when the stream is read, as with createClient; never as unhandled.
  response.catch(() => undefined);
  let it: AsyncIterator<unknown> | undefined;
  let trailer: Headers | undefined;
  const pass = (r: IteratorResult<unknown>) => {
    if (r.done) options?.onTrailer?.(trailer!);
    return r;
  };
  const next = (): Promise<IteratorResult<unknown>> => {
    if (it) return it.next().then(pass);
    return response.then((res) => {
      options?.onHeader?.(res.header);
      trailer = res.trailer;
      it = res.message[Symbol.asyncIterator]();
      return it.next().then(pass);
    });
  };
  return { [Symbol.asyncIterator]: () => ({ next }) };
}

/**
 * `createClient(service, transport)` with the same behaviour and types, whose streaming calls
 * cost one promise per message instead of a down-levelled generator's several.
 */
export function createLeanClient<S extends DescService>(service: S, transport: Transport): Client<S> {
  return makeAnyClient(service, (m: DescMethod) => {
    const method = m as DescMethodUnary & DescMethodStreaming;
    switch (m.methodKind) {
      case 'unary':
        return async (input: never, o?: CallOptions) => {
          const res = await transport.unary(method, o?.signal, o?.timeoutMs, o?.headers, input, o?.contextValues);
          o?.onHeader?.(res.header);
          o?.onTrailer?.(res.trailer);
          return res.message;
        };
      case 'server_streaming':
        return (input: never, o?: CallOptions) =>
          responseStream(transport.stream(method, o?.signal, o?.timeoutMs, o?.headers, createAsyncIterable([input]), o?.contextValues), o);
      case 'bidi_streaming':
        return (input: AsyncIterable<never>, o?: CallOptions) =>
          responseStream(transport.stream(method, o?.signal, o?.timeoutMs, o?.headers, input, o?.contextValues), o);
      case 'client_streaming':
        return async (input: AsyncIterable<never>, o?: CallOptions) => {
          const res = await transport.stream(method, o?.signal, o?.timeoutMs, o?.headers, input, o?.contextValues);
          o?.onHeader?.(res.header);
          const messages: unknown[] = [];
          for await (const m of res.message) messages.push(m);
          if (messages.length !== 1)
            throw new ConnectError(`protocol error: ${messages.length} response messages for a client-streaming method, expected 1`, Code.Unimplemented);
          o?.onTrailer?.(res.trailer);
          return messages[0];
        };
    }
  }) as Client<S>;
}
