/**
 * bnlab: the shared library of the notebooks. Data flows one way:
 * data → model → train (with instrumentation hooks) → run store → charts.
 */
export * as tf from '@tensorflow/tfjs-core';
export * from './backend';
export * from './data';
export * from './models';
export * from './train';
export * from './instrument';
export * from './store';
export * from './experiments';
export * from './grid';
export * from './charts';
export * from './display';
export * from './findings';
export * from './analysis';
export * from './util/rng';
export * from './util/format';
export * as ops from './ops';

/** When this copy of lib was loaded: a re-run import cell shows whether an edited lib reached the kernel. */
export const loadedAt = new Date().toISOString();
