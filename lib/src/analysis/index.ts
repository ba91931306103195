// One namespace per research question (bn.rq1.rq1Verdict(...), …), and the
// analysis of the learning-rate sweep RQ1 and RQ4 share (bn.sweep.sweepRow(...),
// …; its runs are bn.sweepSpec's, in ../experiments/sweep).
export * as sweep from './sweep';
export * as convergence from './convergence';
export * as rq1 from './rq1';
export * as rq2 from './rq2';
export * as rq3 from './rq3';
export * as rq4 from './rq4';
export * as rq5 from './rq5';
export * as rq6 from './rq6';
