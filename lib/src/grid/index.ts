export * from './grid';
export * from './shard';
export * from './provenance';
