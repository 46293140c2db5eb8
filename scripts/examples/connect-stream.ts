/**
 * StreamPredict with a Connect client over HTTP/1.1 (the same protocol a browser uses), printing
 * text as it arrives. Ctrl-C cancels the call, which frees the worker's slot.
 *   npx tsx scripts/examples/connect-stream.ts [prompt] [base-url]
 * (start the mesh first: npm start; the gateway's HTTP/1.1 port is 8080)
 */
import { ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { FinishReason, InferenceService } from '@tokenmesh/proto';

async function main(prompt: string, baseUrl: string): Promise<void> {
  const client = createClient(InferenceService, createConnectTransport({ baseUrl, httpVersion: '1.1' }));
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.stdout.write(prompt);
  for await (const m of client.streamPredict({ prompt, sampling: { maxTokens: 64, temperature: 0.8 } }, { signal: abort.signal })) {
    process.stdout.write(m.text);
    if (m.finishReason !== FinishReason.UNSPECIFIED) {
      process.stdout.write(`\n\n[${FinishReason[m.finishReason]}] ${m.usage?.completionTokens} tokens in ${m.timings?.totalMs.toFixed(0)} ms\n`);
    }
  }
}

main(process.argv[2] ?? 'In the beginning', process.argv[3] ?? 'http://127.0.0.1:8080').catch((err: unknown) => {
  process.stderr.write(`\n${ConnectError.from(err).message}\n`);
  process.exitCode = 1;
});
