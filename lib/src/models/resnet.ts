/**
 * The CIFAR ResNet of He et al. (2016), depth 6n + 2, as used by the paper
 * (ResNet-110 on CIFAR-10): a 3×3 stem, three stages of n basic blocks of
 * width w, 2w, 4w (the first block of stages 2 and 3 with stride 2), global
 * average pooling and a linear classifier. Shortcuts are parameter-free
 * ("option A": subsample, then zero-pad the channels), so that removing BN
 * removes every normalisation and nothing else.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as ops from '../ops';
import * as L from './layers';
import { isInnerNorm, NORM_POINT_PREFIX } from './norm';
import { assembleModel, checkCommonOptions, checkPositiveInt, Model, newStore, ResNetOptions } from './model';

/** x[:, ::2, ::2, :] with the channels zero-padded to `outChannels`, split evenly on both sides. */
export function optionAShortcut(x: tf.Tensor4D, outChannels: number): tf.Tensor4D {
  return tf.tidy((): tf.Tensor4D => {
    let [n, h, w, c] = x.shape;
    let t: tf.Tensor4D = x;
    // A reshape and a slice rather than stridedSlice, which has no gradient in tfjs.
    if (h % 2 || w % 2) {
      t = tf.pad(t, [
        [0, 0],
        [0, h % 2],
        [0, w % 2],
        [0, 0],
      ]);
      h += h % 2;
      w += w % 2;
    }
    const sub: tf.Tensor4D = tf.reshape(
      tf.slice(tf.reshape(t, [n, h / 2, 2, w / 2, 2, c]), [0, 0, 0, 0, 0, 0], [n, h / 2, 1, w / 2, 1, c]),
      [n, h / 2, w / 2, c],
    );
    const extra = outChannels - c;
    return extra > 0
      ? (tf.pad(sub, [
          [0, 0],
          [0, 0],
          [0, 0],
          [Math.floor(extra / 2), extra - Math.floor(extra / 2)],
        ]) as tf.Tensor4D)
      : sub;
  });
}

export function resnet(options: Omit<ResNetOptions, 'family'> & { family?: 'resnet' }): Model {
  const o: ResNetOptions = { ...options, family: 'resnet' };
  checkCommonOptions(o, 'resnet');
  if (!Number.isInteger(o.depth) || o.depth < 8 || (o.depth - 2) % 6 !== 0) {
    throw new Error(`resnet options: depth must be 6n + 2 with n ≥ 1 (20, 32, 44, 56, 110, …), got ${o.depth}`);
  }
  checkPositiveInt(o.width, 'resnet options: width');
  const blocksPerStage = (o.depth - 2) / 6;
  const width = o.width ?? 16;
  const inner = isInnerNorm(o.norm) ? o.norm : null;
  const fixup = o.init?.scheme === 'fixup';
  const normOpts = { momentum: o.bnMomentum ?? 0.1, epsilon: o.bnEpsilon ?? 1e-5, groups: o.groups };
  const store = newStore(o);
  // Fixup scales the first conv of each of the L residual branches by
  // L^(−1/(2m−2)) with m = 2 convs per branch, and zeroes the last one, so
  // that at init every block is the identity and the output's variance
  // does not grow with depth.
  const branchGain = fixup ? (3 * blocksPerStage) ** -0.5 : 1;

  /**
   * conv → [norm] → ReLU, named conv<i>, bn<i> (ln<i>, gn<i>), relu<i>;
   * without `reluName` conv → [norm] (the block's second conv adds the
   * shortcut before its ReLU).
   */
  const convUnit = (name: string, inC: number, outC: number, stride: number, reluName?: string, gain?: number): L.Layer[] => {
    const conv = { inChannels: inC, outChannels: outC, kernel: 3, stride, gain };
    if (!inner && !fixup && reluName) return [L.conv2dRelu(store, { conv: name, relu: reluName }, conv)];
    // Here a norm follows, or Fixup's scalar biases stand in: no bias of the conv's own.
    const layers = [L.conv2d(store, name, { ...conv, bias: false })];
    if (inner) {
      const normName = name.replace(/conv(\d*)$/, `${NORM_POINT_PREFIX[inner]}$1`);
      layers.push(L.normLayer(store, inner, { norm: normName, relu: reluName }, outC, normOpts));
    } else if (reluName) {
      if (fixup) layers.push(L.scalarBias(store, `${name}/bias_after`));
      layers.push(L.relu(store, reluName));
    }
    return layers;
  };

  /**
   * A block whose ending fuses: conv1 → [BN] → ReLU → conv2 → [BN], added to
   * the shortcut, then ReLU. With no tap listening, conv2's bias (no norm) or
   * its BN, the add and the ReLU are one op (L.residualConv2dRelu,
   * L.residualBatchNormRelu).
   */
  const fusedEndBlock = (name: string, inC: number, outC: number, stride: number): L.Layer => {
    const conv1 = L.sequence(...convUnit(`${name}/conv1`, inC, outC, stride, `${name}/relu1`));
    const conv2 = { inChannels: outC, outChannels: outC, kernel: 3 };
    let end: (h: tf.Tensor, shortcut: tf.Tensor, ctx: L.ForwardContext) => tf.Tensor;
    if (inner === 'batch') {
      const conv = L.conv2d(store, `${name}/conv2`, { ...conv2, bias: false });
      const bn = L.residualBatchNormRelu(store, `${name}/bn2`, outC, normOpts);
      end = (h, shortcut, ctx) => bn(conv(h, ctx), shortcut, ctx);
    } else {
      end = L.residualConv2dRelu(store, `${name}/conv2`, conv2);
    }
    const downsample = stride !== 1 || inC !== outC;
    return (x, ctx) => end(conv1(x, ctx), downsample ? optionAShortcut(x as tf.Tensor4D, outC) : x, ctx);
  };

  /**
   * A block with layer or group norm, or Fixup's (its CIFAR code): x + b1a → conv1 →
   * + b1b → ReLU → + b2a → conv2 → · scale + b2b, added to the shortcut of
   * x + b1a; then ReLU.
   */
  const branchBlock = (name: string, inC: number, outC: number, stride: number): L.Layer => {
    const inputBias = fixup ? L.scalarBias(store, `${name}/bias1a`) : null;
    const branch = fixup
      ? L.sequence(
          ...convUnit(`${name}/conv1`, inC, outC, stride, `${name}/relu1`, branchGain),
          L.scalarBias(store, `${name}/bias2a`),
          ...convUnit(`${name}/conv2`, outC, outC, 1, undefined, 0),
          L.scalarScale(store, `${name}/scale`),
          L.scalarBias(store, `${name}/bias2b`),
        )
      : L.sequence(...convUnit(`${name}/conv1`, inC, outC, stride, `${name}/relu1`), ...convUnit(`${name}/conv2`, outC, outC, 1));
    const downsample = stride !== 1 || inC !== outC;
    return (x, ctx) => {
      const input = inputBias ? inputBias(x, ctx) : x;
      const y = branch(input, ctx);
      // Fixup's code downsamples x + b1a but adds x itself otherwise.
      const shortcut = downsample ? optionAShortcut(input as tf.Tensor4D, outC) : x;
      return ops.relu(tf.add(y, shortcut));
    };
  };

  const stem = L.sequence(...convUnit('stem/conv', o.inputShape[2], width, 1, 'stem/relu'));
  const blocks: L.Layer[] = [];
  let channels = width;
  for (let s = 0; s < 3; s++) {
    const outC = width * 2 ** s;
    for (let b = 0; b < blocksPerStage; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const name = `stage${s + 1}/block${b}`;
      const fuses = !fixup && (inner === null || inner === 'batch');
      const block = fuses ? fusedEndBlock(name, channels, outC, stride) : branchBlock(name, channels, outC, stride);
      store.point(name, 'block');
      blocks.push((x, ctx) => L.tap(ctx, name, block(x, ctx)));
      channels = outC;
    }
  }
  const head: L.Layer[] = [];
  if (o.norm === 'final-only') head.push(L.batchNorm(store, 'final/bn', channels, normOpts));
  head.push(L.globalAvgPool(store, 'pool'));
  if (fixup) head.push(L.scalarBias(store, 'logits/bias_before'));
  head.push(L.dense(store, 'logits', { inFeatures: channels, outFeatures: o.numClasses, gain: fixup ? 0 : 1 }));

  return assembleModel(o, `resnet${o.depth}-${fixup ? 'fixup' : o.norm}`, store, L.sequence(stem, ...blocks, ...head));
}
