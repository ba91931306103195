/**
 * bnlab: the shared library of the notebooks. Data flows one way:
 * data → model → train (with instrumentation hooks) → run store → charts.
 */
export * as tf from '@tensorflow/tfjs-core';
export * from './backend';
export * from './util/rng';
export * as ops from './ops';
