export { FeedbackAggregates } from './aggregates';
export { feedbackService } from './service';
export { loadConfig, type FeedbackConfig } from './config';
export { start, type FeedbackDeps } from './start';
