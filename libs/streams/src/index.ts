export * from './abortable';
export * from './observe';
