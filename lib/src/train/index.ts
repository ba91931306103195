export * from './loop';
export * from './optimizer';
export * from './progress';
export * from './schedule';
