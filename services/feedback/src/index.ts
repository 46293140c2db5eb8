export { FeedbackAggregates } from './aggregates';
export { type FeedbackConfig, loadConfig } from './config';
export { feedbackService } from './service';
export { type FeedbackDeps, start } from './start';
