/**
 * What the paper reports, each number with the figure or table it comes
 * from, so notebooks draw it beside ours and verdicts compare against it.
 * Numbers marked `readOff` were read off a figure, not given in the text.
 * (Bjorck, Gomes, Selman, Weinberger: Understanding Batch Normalization,
 * NeurIPS 2018, arXiv 1806.02375.)
 */
export interface PaperNumber {
  value: number;
  source: string;
  readOff?: boolean;
}

const n = (value: number, source: string, readOff = false): PaperNumber => ({ value, source, readOff });

export const PAPER = {
  setup: {
    model: 'ResNet-110',
    dataset: 'CIFAR-10',
    widths: [16, 32, 64],
    batchSize: 128,
    momentum: 0.9,
    weightDecay: 1e-4,
    init: 'xavier' as const,
    learningRates: [0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001, 0.00003],
    /** A mini-batch loss above this is divergence; no network recovered from it. */
    divergenceLoss: n(1e3, 'Sec. 2'),
    lrDropAt: n(0.5, 'Fig. 1 (a drop at 50% of training)', true),
  },
  rq1: {
    testAccuracyBnLr0_1: n(0.93, 'Fig. 1', true),
    testAccuracyBnLr0_003: n(0.905, 'Fig. 1', true),
    testAccuracyBnLr0_0001: n(0.81, 'Fig. 1', true),
    testAccuracyNoBnLr0_0001: n(0.82, 'Fig. 1', true),
  },
  rq2: {
    /** Without BN, conv-weight gradients at init span ~±4 against ~±0.04 with BN. */
    gradientSpreadRatio: n(100, 'Fig. 2', true),
  },
  rq3: {
    fussCatalanEdge: { 1: n(2, 'Sec. 5'), 3: n(3.08, 'Sec. 5'), 5: n(3.86, 'Sec. 5') } as Record<number, PaperNumber>,
  },
  rq4: {
    /** Share of BN's accuracy gain that one BN before the classifier recovers. */
    gainRecovered: n(2 / 3, 'Sec. 4 (final-layer BN)'),
    maxStableLearningRate: n(0.03, 'Sec. 4 (final-layer BN)'),
    testAccuracy: n(0.901, 'Sec. 4 (final-layer BN)'),
  },
  rq5: {
    /** Without BN the relative loss passes 1e6 by a step of ≈ 2–5e-3. */
    noBnBlowUpRelativeLoss: n(1e6, 'Fig. 3', true),
    noBnBlowUpStep: n(3e-3, 'Fig. 3 (2–5e-3)', true),
    /** With BN the minimum relative loss is ≈ 0.7–0.8, near a step of 2e-2 to 1e-1, and the worst ≈ 3. */
    bnMinRelativeLoss: n(0.75, 'Fig. 3 (0.7–0.8)', true),
    bnWorstRelativeLoss: n(3, 'Fig. 3', true),
    anatomyLayers: [8, 44, 80],
  },
} as const;
