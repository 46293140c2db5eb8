/**
 * StreamPredict with plain grpc-js, as any gRPC service would call tokenmesh. Prints the text as
 * it arrives, then the finish reason and usage.
 *   npx tsx scripts/examples/grpc-js-stream.ts [prompt] [host:port]
 * (start the mesh first: npm start; the gateway's gRPC port is 50051)
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { FinishReason, StreamPredictRequestSchema, type StreamPredictResponse, StreamPredictResponseSchema } from '@tokenmesh/proto';

const prompt = process.argv[2] ?? 'In the beginning';
const address = process.argv[3] ?? '127.0.0.1:50051';

const client = new grpc.Client(address, grpc.credentials.createInsecure());
const call = client.makeServerStreamRequest(
  '/tokenmesh.inference.v1.InferenceService/StreamPredict',
  (m: ReturnType<typeof create<typeof StreamPredictRequestSchema>>) => Buffer.from(toBinary(StreamPredictRequestSchema, m)),
  (b: Buffer) => fromBinary(StreamPredictResponseSchema, b),
  create(StreamPredictRequestSchema, { prompt, sampling: { maxTokens: 64, temperature: 0.8, seed: 7n } }),
);
process.stdout.write(prompt);
call.on('data', (m: StreamPredictResponse) => {
  process.stdout.write(m.text);
  if (m.finishReason !== FinishReason.UNSPECIFIED) {
    process.stdout.write(
      `\n\n[${FinishReason[m.finishReason]}] ${m.usage?.promptTokens} prompt + ${m.usage?.completionTokens} generated tokens, model ${m.model}\n`,
    );
  }
});
call.on('error', (err: grpc.ServiceError) => {
  process.stderr.write(`\n${grpc.status[err.code]}: ${err.details}\n`);
  process.exitCode = 1;
});
call.on('end', () => client.close());
