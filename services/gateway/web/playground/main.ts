import { ConnectError } from '@connectrpc/connect';
import { FinishReason, type StreamPredictResponse } from '@tokenmesh/proto';

import { Conversation } from './conversation';
import { byId, row } from './dom';
import { errorMessage } from './error-message';
import { finishReasonText } from './finish-reason';
import { gatewayClients, type Protocol } from './gateway-client';
import { samplingFrom } from './sampling-form';
import { StreamMeter } from './stream-meter';
import { newTraceparent } from './trace-context';

interface Settings {
  readonly apiKeys: boolean;
  readonly jaegerUrl?: string;
}

const settings = JSON.parse(byId('settings', HTMLScriptElement).textContent || '{}') as Settings;
const form = byId('request', HTMLFormElement);
const gateway = byId('gateway', HTMLInputElement);
const protocol = byId('protocol', HTMLSelectElement);
const apiKey = byId('api-key', HTMLInputElement);
const model = byId('model', HTMLSelectElement);
const prompt = byId('prompt', HTMLTextAreaElement);
const send = byId('send', HTMLButtonElement);
const stop = byId('stop-button', HTMLButtonElement);
const output = byId('output', HTMLPreElement);
const status = byId('status', HTMLParagraphElement);
const error = byId('error', HTMLParagraphElement);
const thumbsUp = byId('thumbs-up', HTMLButtonElement);
const thumbsDown = byId('thumbs-down', HTMLButtonElement);
const feedbackStatus = byId('feedback-status', HTMLSpanElement);
const turns = byId('turns', HTMLOListElement);
const conversationBox = byId('conversation', HTMLElement);
const stat = (id: string) => byId(id, HTMLElement);

// Another origin may host this page and name its gateway: ?gateway=https://gateway.example.com
gateway.value = new URLSearchParams(location.search).get('gateway') ?? location.origin;
byId('api-key-label', HTMLLabelElement).hidden = !settings.apiKeys;

const clients = () => gatewayClients(gateway.value.replace(/\/+$/, ''), protocol.value as Protocol, () => apiKey.value);
const conversation = new Conversation();
const chatMode = () => (form.elements.namedItem('mode') as RadioNodeList).value === 'chat';

function showError(err: unknown): void {
  error.textContent = errorMessage(err, gateway.value);
  error.hidden = false;
}

function clearError(): void {
  error.hidden = true;
  error.textContent = '';
}

async function loadModels(): Promise<void> {
  try {
    const { models } = await clients().inference.listModels({});
    const chosen = model.value;
    model.replaceChildren(...models.map((m) => new Option(`${m.name} (${m.versions.join(', ')}; ${m.workers} worker${m.workers === 1 ? '' : 's'})`, m.name)));
    if (models.some((m) => m.name === chosen)) model.value = chosen;
    clearError();
  } catch (err) {
    showError(err);
  }
}

async function refreshReport(): Promise<void> {
  try {
    const { variants } = await clients().feedback.getReport({});
    byId('report', HTMLTableSectionElement).replaceChildren(
      ...variants.map((v) =>
        row([
          v.model,
          v.variant || '–',
          String(v.completions),
          String(v.completionTokens),
          `${v.latencyP50Ms.toFixed(1)} / ${v.latencyP99Ms.toFixed(1)}`,
          String(v.feedbackCount),
          v.feedbackCount > 0n ? v.meanRating.toFixed(2) : '–',
        ]),
      ),
    );
  } catch (err) {
    showError(err);
  }
}

function renderTurns(): void {
  turns.replaceChildren(
    ...conversation.turns.map((t) => {
      const li = document.createElement('li');
      li.dataset['role'] = t.role;
      li.append(Object.assign(document.createElement('span'), { className: 'role', textContent: `${t.role}: ` }), t.content);
      return li;
    }),
  );
}

function showMode(): void {
  const chat = chatMode();
  conversationBox.hidden = !chat;
  byId('prompt-label', HTMLLabelElement).textContent = chat ? 'Message' : 'Prompt';
}

function resetStats(): void {
  for (const id of ['ttft', 'rate', 'finish', 'usage', 'served-model', 'variant', 'worker', 'cache', 'trace']) stat(id).textContent = '–';
}

function showTrace(traceId: string): void {
  const dd = stat('trace');
  if (!settings.jaegerUrl) {
    dd.textContent = traceId;
    return;
  }
  const a = Object.assign(document.createElement('a'), { href: `${settings.jaegerUrl.replace(/\/+$/, '')}/trace/${traceId}`, textContent: traceId });
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  dd.replaceChildren(a);
}

/** The completion feedback refers to: set once a stream finished. */
let lastRequestId: string | undefined;
let running: AbortController | undefined;

function showFinal(c: StreamPredictResponse, meter: StreamMeter): void {
  stat('finish').textContent = finishReasonText(c.finishReason);
  const u = c.usage;
  if (u) stat('usage').textContent = `${u.promptTokens} / ${u.completionTokens} / ${u.totalTokens}`;
  const rate = meter.tokensPerSecond(u?.completionTokens);
  if (rate !== undefined) stat('rate').textContent = rate.toFixed(0);
  stat('served-model').textContent = c.model || '–';
  stat('variant').textContent = c.variant || '–';
  stat('worker').textContent = c.workerId || '–';
}

async function generate(): Promise<void> {
  let sampling;
  try {
    sampling = samplingFrom({
      temperature: byId('temperature', HTMLInputElement).value,
      topP: byId('top-p', HTMLInputElement).value,
      topK: byId('top-k', HTMLInputElement).value,
      maxTokens: byId('max-tokens', HTMLInputElement).value,
      seed: byId('seed', HTMLInputElement).value,
      stop: byId('stop', HTMLTextAreaElement).value,
    });
  } catch (err) {
    // A FieldError: the control and what it must be.
    error.textContent = (err as Error).message;
    error.hidden = false;
    return;
  }
  const chat = chatMode();
  const question = prompt.value;
  const abort = new AbortController();
  running = abort;
  lastRequestId = undefined;
  send.disabled = true;
  stop.disabled = false;
  thumbsUp.disabled = thumbsDown.disabled = true;
  feedbackStatus.textContent = '';
  output.textContent = '';
  output.setAttribute('aria-busy', 'true');
  clearError();
  resetStats();
  status.textContent = 'Streaming…';
  const trace = newTraceparent();
  showTrace(trace.traceId);
  const meter = new StreamMeter(performance.now());
  let requestId = '';
  let finished = false;
  try {
    const stream = clients().inference.streamPredict(
      { model: model.value, ...(chat ? { messages: conversation.ask(question) } : { prompt: question }), sampling },
      {
        signal: abort.signal,
        headers: { traceparent: trace.header },
        onHeader: (h) => (stat('cache').textContent = h.get('x-tokenmesh-cache') ?? '–'),
      },
    );
    for await (const c of stream) {
      requestId ||= c.requestId;
      if (c.text) {
        output.textContent += c.text;
        meter.chunk(performance.now());
        if (meter.chunks === 1) stat('ttft').textContent = `${meter.ttftMs!.toFixed(1)} ms`;
        const rate = meter.tokensPerSecond();
        if (rate !== undefined) stat('rate').textContent = `≈ ${rate.toFixed(0)}`;
      }
      if (c.finishReason !== FinishReason.UNSPECIFIED) {
        showFinal(c, meter);
        finished = true;
      }
    }
    status.textContent = finished ? 'Done.' : 'The stream ended without a finish reason (the gateway or a worker went away?).';
  } catch (err) {
    if (abort.signal.aborted) {
      status.textContent = `Stopped after ${meter.chunks} chunk${meter.chunks === 1 ? '' : 's'}.`;
      stat('finish').textContent = finishReasonText(FinishReason.CANCELLED);
    } else {
      status.textContent = 'Failed.';
      showError(err);
    }
  } finally {
    running = undefined;
    send.disabled = false;
    stop.disabled = true;
    output.setAttribute('aria-busy', 'false');
  }
  if (!finished || !requestId) return;
  lastRequestId = requestId;
  thumbsUp.disabled = thumbsDown.disabled = false;
  if (chat) {
    conversation.answered(question, output.textContent);
    renderTurns();
    prompt.value = '';
  }
}

async function sendFeedback(rating: number): Promise<void> {
  if (!lastRequestId) return;
  thumbsUp.disabled = thumbsDown.disabled = true;
  try {
    const { feedbackId } = await clients().feedback.submitFeedback({ requestId: lastRequestId, rating });
    feedbackStatus.textContent = `Thanks: feedback ${feedbackId} recorded.`;
    await refreshReport();
  } catch (err) {
    thumbsUp.disabled = thumbsDown.disabled = false;
    feedbackStatus.textContent = errorMessage(err, gateway.value);
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!running) void generate();
});
prompt.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    form.requestSubmit();
  }
});
stop.addEventListener('click', () => running?.abort(new ConnectError('stopped by the user')));
thumbsUp.addEventListener('click', () => void sendFeedback(1));
thumbsDown.addEventListener('click', () => void sendFeedback(-1));
byId('refresh-report', HTMLButtonElement).addEventListener('click', () => void refreshReport());
byId('new-chat', HTMLButtonElement).addEventListener('click', () => {
  conversation.clear();
  renderTurns();
});
for (const radio of form.querySelectorAll<HTMLInputElement>('input[name="mode"]')) radio.addEventListener('change', showMode);
for (const control of [gateway, protocol, apiKey]) control.addEventListener('change', () => void Promise.all([loadModels(), refreshReport()]));

showMode();
void Promise.all([loadModels(), refreshReport()]);
