export { FeedbackAggregates } from './aggregates';
export { feedbackService } from './service';
