/** The batch input file's lines and the endpoint they are for. */
export interface BatchSubmission {
  readonly lines: readonly string[];
  readonly endpoint?: '/v1/completions' | '/v1/chat/completions';
}

/**
 * Uploads `lines` as a batch input file and creates a batch from it over a gateway's REST API
 * (plain fetch, as a client with no SDK would); resolves with both ids.
 */
export async function submitBatch(
  gatewayHttpUrl: string,
  { lines, endpoint = '/v1/completions' }: BatchSubmission,
): Promise<{ fileId: string; batchId: string }> {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', new Blob([lines.join('\n')]), 'batch.jsonl');
  const uploaded = await fetch(`${gatewayHttpUrl}/v1/files`, { method: 'POST', body: form });
  if (uploaded.status !== 200) throw new Error(`upload: HTTP ${uploaded.status}: ${await uploaded.text()}`);
  const file = (await uploaded.json()) as { id: string };
  const created = await fetch(`${gatewayHttpUrl}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: file.id, endpoint, completion_window: '24h' }),
  });
  if (created.status !== 200) throw new Error(`create batch: HTTP ${created.status}: ${await created.text()}`);
  return { fileId: file.id, batchId: ((await created.json()) as { id: string }).id };
}
