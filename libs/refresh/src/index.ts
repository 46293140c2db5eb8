export * from './refreshing';
