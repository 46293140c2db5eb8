import { Code, ConnectError } from '@connectrpc/connect';
import { FieldError, type Sampling, validateSampling } from '@tokenmesh/model';
import type { GenerateRequest } from '@tokenmesh/proto';

import type { LoadedModel, ModelRepo } from '../models/model-repo';

/** A Generate request that passed validation: the engine can run it as is. */
export interface ValidatedGenerate {
  readonly model: LoadedModel;
  readonly promptIds: readonly number[];
  readonly sampling: Sampling;
}

const GRPC_FIELD: Record<string, string> = { prompt: 'prompt_token_ids' };

/**
 * Checks the model, the prompt ids and the sampling parameters against the model's limits.
 * @throws ConnectError NOT_FOUND for an unknown model, INVALID_ARGUMENT naming the field otherwise.
 */
export function validateGenerate(req: GenerateRequest, repo: ModelRepo): ValidatedGenerate {
  const model = repo.resolve(req.model);
  if (!model) {
    const known = repo.models.map((m) => m.id).join(', ');
    throw new ConnectError(`model: ${JSON.stringify(req.model)} is not served here (served: ${known})`, Code.NotFound);
  }
  const { vocabSize, contextLength } = model.spec;
  const bad = req.promptTokenIds.findIndex((id) => id >= vocabSize);
  if (bad >= 0) {
    throw new ConnectError(`prompt_token_ids[${bad}]: ${req.promptTokenIds[bad]} is outside the vocabulary (0..${vocabSize - 1})`, Code.InvalidArgument);
  }
  try {
    // A SamplingParams message is a SamplingInput: validateSampling reads the fields of SAMPLING_FIELDS.
    const sampling = validateSampling(req.sampling ?? {}, { promptTokens: req.promptTokenIds.length, contextLength, vocabSize });
    return { model, promptIds: req.promptTokenIds, sampling };
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    const field = GRPC_FIELD[err.field] ?? `sampling.${err.field}`;
    throw new ConnectError(`${field}: ${err.detail}`, Code.InvalidArgument);
  }
}
