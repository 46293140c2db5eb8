import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { FeedbackService, type SubmitFeedbackRequest, type SubmitFeedbackRequestSchema } from '@tokenmesh/proto';
import { MemoryStore } from '@tokenmesh/store';

import { feedbackService } from '../../src/api/grpc/feedback-api';
import { CALLER } from '../../src/edge/auth/request-caller';
import type { Caller } from '../../src/edge/edge-policy';
import { IssuedRequests } from '../../src/pipeline/issued-requests';

// FeedbackService at the edge (what the playground's thumbs and report call): held to /feedback's rules.
describe('gateway FeedbackService', () => {
  const store = new MemoryStore();
  afterAll(() => store.close());
  const submitted: SubmitFeedbackRequest[] = [];
  const upstream = createClient(
    FeedbackService,
    createRouterTransport((r) =>
      r.service(FeedbackService, {
        submitFeedback: (req) => (submitted.push(req), { feedbackId: `fb-${req.requestId}` }),
        getReport: () => ({
          variants: [
            { model: 'tinygpt@1', variant: '', completions: 3n, feedbackCount: 1n, meanRating: 1 },
            { model: 'tinyllama@1', variant: 'b', completions: 2n },
          ],
        }),
      }),
    ),
  );

  function edge(caller?: Caller) {
    const issued = new IssuedRequests(store);
    issued.remember({ requestId: 'r1', model: 'tinygpt@1', variant: 'a' });
    return {
      issued,
      client: createClient(
        FeedbackService,
        createRouterTransport((r) => r.service(FeedbackService, feedbackService(upstream, issued)), {
          router: { interceptors: caller ? [(next) => (req) => (req.contextValues.set(CALLER, caller), next(req))] : [] },
        }),
      ),
    };
  }

  it('takes feedback on an issued completion with its served model and variant, and refuses others naming the field', async () => {
    const { client } = edge();
    expect(await client.submitFeedback({ requestId: 'r1', rating: 1 })).toMatchObject({ feedbackId: 'fb-r1' });
    expect(submitted.at(-1)).toMatchObject({ requestId: 'r1', rating: 1, model: 'tinygpt@1', variant: 'a' });
    const refused = async (req: MessageInitShape<typeof SubmitFeedbackRequestSchema>) =>
      ConnectError.from(await client.submitFeedback(req).catch((e: unknown) => e));
    expect(await refused({ requestId: 'never', rating: 1 })).toMatchObject({ code: Code.NotFound, rawMessage: expect.stringMatching(/^request_id: /) });
    expect(await refused({ requestId: 'r1', rating: 3 })).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: 'rating: must be a number in [-1, 1], got 3',
    });
    expect(await refused({ requestId: 'r1', rating: 1, variant: 'b' })).toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(/^variant: /),
    });
  });

  it('reports every variant, or only the models an API key may use', async () => {
    expect((await edge().client.getReport({})).variants.map((v) => v.model)).toEqual(['tinygpt@1', 'tinyllama@1']);
    const limited = edge({ keyName: 'k', subject: 'key:k', allowedModels: ['tinyllama'] });
    expect((await limited.client.getReport({})).variants.map((v) => v.model)).toEqual(['tinyllama@1']);
  });
});
