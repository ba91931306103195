/**
 * Instrumentation: named per-layer statistics recorded without the model
 * knowing (forward and backward hooks on its named points), returned as tidy
 * rows ready for charts.
 */
export * from './stats';
export * from './hooks';
export * from './moments';
export * from './gradients';
export * from './step';
export * from './landscape';
export * from './curves';
export * from './random-matrix';
export * from './jacobian';
