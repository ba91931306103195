/**
 * oneDNN's verbose log (ONEDNN_VERBOSE=1), read into per-primitive timings,
 * so that TensorFlow's oneDNN and PyTorch's can be compared call by call
 * (`npm run bench:primitives`). A run line looks like
 *
 *   onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,
 *     forward_training,<memory descriptors>,<attributes>,alg:convolution_direct,
 *     mb128_ic16oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1,5.4
 *
 * (one line; optional fields such as a timestamp may come before `primitive`),
 * and the library names itself in `onednn_verbose,v1,info,oneDNN v3.7.3 …`.
 */
import { median } from './median';

export interface PrimitiveRun {
  /** convolution, reorder, batch_normalization, … */
  kind: string;
  /** The implementation oneDNN picked, e.g. brg_conv_fwd:avx2. */
  impl: string;
  /** forward_training, backward_data, backward_weights, … (undef for reorders). */
  prop: string;
  /** The problem: shapes, strides, padding (for a reorder, its dimensions). */
  problem: string;
  ms: number;
}

export interface OneDnnLog {
  /** "v3.7.3", from the log's info line; null if it has none. */
  version: string | null;
  runs: PrimitiveRun[];
}

export function parseOneDnnLog(text: string): OneDnnLog {
  let version: string | null = null;
  const runs: PrimitiveRun[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('onednn_verbose,')) continue;
    const f = line.split(',');
    const info = f.indexOf('info');
    if (version === null && info >= 0) {
      const m = /^oneDNN (v\d+\.\d+(?:\.\d+)?)/.exec(f[info + 1] ?? '');
      if (m) version = m[1];
      continue;
    }
    const exec = f.indexOf('exec');
    if (exec < 0 || f[exec - 1] !== 'primitive' || f.length < exec + 6) continue;
    const ms = Number(f[f.length - 1]);
    if (!Number.isFinite(ms)) continue;
    runs.push({ kind: f[exec + 2], impl: f[exec + 3], prop: f[exec + 4], problem: f[f.length - 2], ms });
  }
  return { version, runs };
}

/**
 * The same layer in both libraries: kind, propagation and problem, with the
 * padding left out. A stride-2 convolution pads (0, 1) under TensorFlow's
 * SAME and (1, 1) in PyTorch; oneDNN writes only the leading pad.
 */
export function layerKey(r: Pick<PrimitiveRun, 'kind' | 'prop' | 'problem'>): string {
  return `${r.kind} ${r.prop} ${r.problem.replace(/p[hwd]\d+/g, '')}`;
}

export interface PrimitiveSummary {
  key: string;
  kind: string;
  prop: string;
  problem: string;
  /** The implementation most of its runs took. */
  impl: string;
  callsPerStep: number;
  /** Median ms of the timed steps' runs. */
  medianMs: number;
}

/**
 * Per layer key: runs per step and the median time of the timed steps'
 * runs. Each key's first warmup/(warmup + steps) of runs are the warm-up's
 * (the log is in time order), and are left out.
 */
export function summarise(runs: readonly PrimitiveRun[], warmup: number, steps: number): PrimitiveSummary[] {
  if (!(steps > 0) || !(warmup >= 0)) throw new Error(`summarise: need steps > 0 and warmup ≥ 0, got ${steps} and ${warmup}`);
  const byKey = new Map<string, PrimitiveRun[]>();
  for (const r of runs) {
    const k = layerKey(r);
    if (!byKey.has(k)) byKey.set(k, []);
    byKey.get(k)!.push(r);
  }
  const out: PrimitiveSummary[] = [];
  for (const [key, rs] of byKey) {
    const perStep = rs.length / (warmup + steps);
    const timed = rs.slice(Math.round(perStep * warmup));
    if (timed.length === 0) continue;
    const impls = new Map<string, number>();
    for (const r of timed) impls.set(r.impl, (impls.get(r.impl) ?? 0) + 1);
    const impl = [...impls].sort((p, q) => q[1] - p[1])[0][0];
    out.push({
      key,
      kind: rs[0].kind,
      prop: rs[0].prop,
      problem: rs[0].problem,
      impl,
      callsPerStep: timed.length / steps,
      medianMs: median(timed.map((r) => r.ms)),
    });
  }
  return out.sort((p, q) => q.callsPerStep * q.medianMs - p.callsPerStep * p.medianMs);
}

export interface PrimitiveComparison {
  kind: string;
  prop: string;
  problem: string;
  callsPerStep: number;
  bnlabImpl: string;
  torchImpl: string;
  bnlabMs: number;
  torchMs: number;
  /** PyTorch's median over bnlab's: above 1, bnlab's run is the faster. */
  ratio: number;
}

/** The layers both ran (the same key), with each side's median; in order of bnlab's time per step. */
export function comparePrimitives(bnlab: readonly PrimitiveSummary[], torch: readonly PrimitiveSummary[]): PrimitiveComparison[] {
  const theirs = new Map(torch.map((s) => [s.key, s]));
  return bnlab
    .filter((s) => theirs.has(s.key))
    .map((s) => {
      const t = theirs.get(s.key)!;
      return {
        kind: s.kind,
        prop: s.prop,
        problem: s.problem,
        callsPerStep: +s.callsPerStep.toFixed(2),
        bnlabImpl: s.impl,
        torchImpl: t.impl,
        bnlabMs: +s.medianMs.toFixed(3),
        torchMs: +t.medianMs.toFixed(3),
        ratio: +(t.medianMs / s.medianMs).toFixed(3),
      };
    });
}

/** Σ calls per step × median ms, over the summaries that pass `keep` (all by default). */
export function msPerStep(summaries: readonly PrimitiveSummary[], keep: (s: PrimitiveSummary) => boolean = () => true): number {
  return summaries.filter(keep).reduce((sum, s) => sum + s.callsPerStep * s.medianMs, 0);
}
