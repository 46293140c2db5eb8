import { FinishReason } from '@tokenmesh/proto';

/** OpenAI's finish_reason: an end-of-sequence token and a stop match are both "stop". */
export function openAiFinishReason(r: FinishReason): string | null {
  switch (r) {
    case FinishReason.LENGTH:
      return 'length';
    case FinishReason.EOS:
    case FinishReason.STOP:
      return 'stop';
    case FinishReason.CANCELLED:
      return 'cancelled';
    default:
      return null;
  }
}
