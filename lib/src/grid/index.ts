export * from './grid';
export * from './shard';
