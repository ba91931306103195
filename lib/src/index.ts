/**
 * bnlab: the shared library of the notebooks, as they use it (`import * as
 * bn from 'bnlab'`). Data flows one way, and the groups below follow it:
 * backend → data → models → train (with instrumentation hooks) → run store
 * → experiments → analysis and findings → charts → display.
 *
 * Every name is listed, so this file is the notebook API: adding a name here
 * is a decision, not a side effect of exporting it from a module. What is
 * not here (a chart's internals, a parser, a kernel's socket) is still
 * reachable by its module path (lib/src/<module>, lib/dist/<module>), as the
 * tests and scripts reach it.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ops from './ops';

// ---------------------------------------------------------------- backend
// Which TensorFlow.js backend runs, and why; tfjs itself for tensors of your own.
export { tf };
export { activeBackend, BACKENDS, initBackend } from './backend';
export type { BackendInfo, BackendName } from './backend';

// ---------------------------------------------------------------- data
// Datasets as typed arrays (NHWC), their loaders, and what the training loop does to them; seeded randomness.
export {
  augmentBatch,
  CIFAR10_CLASSES,
  channelStats,
  classCounts,
  downsample,
  ensureCifar10,
  FASHION_MNIST_CLASSES,
  iterateBatches,
  loadCifar10,
  loadFashionMnist,
  normalize,
  selectExamples,
  shuffle,
  splitDataset,
  subset,
  toTensors,
} from './data';
export type { Batch, ChannelStats, Dataset, ImageShape, Split } from './data';
export { Rng } from './util/rng';

// ---------------------------------------------------------------- models
// The three families, the norms they take and what charts call them, the loss, and the layer ops (bn.ops).
export {
  buildModel,
  countForwardMacs,
  crossEntropy,
  mlp,
  NORM_LABEL,
  NORMALISER_LABEL,
  NORMALISERS,
  normLabel,
  NORMS,
  plainCnn,
  resnet,
} from './models';
export type {
  InitOptions,
  InitScheme,
  MlpOptions,
  Model,
  ModelOptions,
  Norm,
  Normaliser,
  NormaliserLabel,
  NormLabel,
  PlainCnnOptions,
  PointInfo,
  ResNetOptions,
  Tap,
} from './models';
export { ops };

// ---------------------------------------------------------------- train
// SGD with momentum, schedules, the training loop and its progress.
export { consoleProgress, evaluate, learningRateAt, SgdMomentum, train, trainStep } from './train';
export type { EpochRecord, LrSchedule, StepRecord, TrainCallbacks, TrainConfig, TrainResult } from './train';

// ---------------------------------------------------------------- instrument
// What the paper measures, as tidy rows: activations, gradients, one SGD step, spectra.
export {
  channelMoments,
  channelPairGradientMap,
  channelPairMap,
  channelPairShare,
  convPoints,
  curveRows,
  defaultActivationPoints,
  DEFAULT_STEP_SIZES,
  fussCatalanDensity,
  fussCatalanEdge,
  gaussianMatrix,
  gaussianProduct,
  gradientHistogram,
  gradientSamples,
  kernelGradientCoherence,
  logitGradientDominance,
  logitGradients,
  logSpace,
  median,
  middleConv,
  momentProfile,
  moments,
  networkJacobianSpectrum,
  productSingularValues,
  quantile,
  record,
  relativeLossAfterStep,
  sampleValues,
  singularValues,
  spectraByDepth,
  stepAnatomy,
  summarizeCoherence,
  topSingularShare,
  weightGradients,
} from './instrument';
export type {
  ChannelMomentRow,
  ChannelPairCell,
  ChannelPairRow,
  CoherenceSummaryRow,
  CurveLabels,
  CurveRow,
  DepthRow,
  KernelCoherenceRow,
  LogitDominance,
  LogitGradientRow,
  MomentProfileRow,
  Recording,
  RelativeLossRow,
  StepAnatomyRow,
  WeightGradientRow,
} from './instrument';

// ---------------------------------------------------------------- store
// One JSON record per run, keyed by its config, the backend and the code version.
export { codeVersion, RunStore } from './store';
export type { FailedRun, RunEnvironment, RunRecord, RunSpec } from './store';

// ---------------------------------------------------------------- experiments
// Profiles, dataset specs, training runs and measurements through the store, the shared learning-rate sweep, and grids of runs.
export {
  activeProfile,
  budgetEpochs,
  byProfile,
  defaultStore,
  loadData,
  lrSweepBase,
  measure,
  PAPER_SETTING,
  PROFILES,
  sweepSpec,
  trainRun,
  trainRunSpec,
} from './experiments';
export type {
  DataSpec,
  EpochBudget,
  ModelSpec,
  ProfileName,
  RunOptions,
  SweepBase,
  SweepPoint,
  TrainRunSpec,
  TrainSummary,
} from './experiments';
export { expandGrid, gridValues, readGrid, readGridFile, runProvenance, sweepPointOf } from './grid';
export type { Grid, GridDefinition, GridRun, ProvenanceRow } from './grid';

// ---------------------------------------------------------------- analysis and findings
// One namespace per research question (bn.rq1 … bn.rq6), the sweep's and convergence's analysis, the paper's numbers, verdicts and how numbers are written.
export { convergence, rq1, rq2, rq3, rq4, rq5, rq6, sweep } from './analysis';
export { currentNotebook, findingMarkdown, formatValue, PAPER, reportFinding, verdictOf, VERDICTS } from './findings';
export type { Finding, PaperNumber, StepBudget, Verdict } from './findings';
export { fmt, pct } from './util/format';

// ---------------------------------------------------------------- charts
// Pure functions from tidy rows to Vega-Lite specs, the one palette, and static SVG rendering.
export {
  binRows,
  CHART_FONT,
  chartConfig,
  compileToVega,
  dotChart,
  heatmap,
  histogram,
  isDiverged,
  lineChart,
  logLegendValues,
  lrSweepChart,
  MODEL_COLORS,
  modelColors,
  NORM_COLORS,
  normColors,
  renderSvg,
  saveSvg,
  STATUS_COMPLETED,
  STATUS_DIVERGED,
} from './charts';
export type {
  BaseChartOptions,
  ChartReference,
  ChartRow,
  DotChartOptions,
  FacetOptions,
  HeatmapOptions,
  HistogramBin,
  HistogramChartOptions,
  LineChartOptions,
  LrSweepOptions,
  TopLevelSpec,
} from './charts';

// ---------------------------------------------------------------- display
// Charts, tables and live progress as notebook outputs.
export { chartBundle, inKernel, liveProgress, markdownTable, show, showTable, SVG_MIME, VEGALITE_MIME } from './display';
export type { LiveProgress, TableOptions } from './display';

/** When this copy of lib was loaded: a re-run import cell shows whether an edited lib reached the kernel. */
export const loadedAt = new Date().toISOString();
