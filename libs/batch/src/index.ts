export * from './batch-caller';
export * from './batch-input';
export * from './batch-messages';
export * from './batch-store';
export * from './batch-topology';
export * from './file-store';
