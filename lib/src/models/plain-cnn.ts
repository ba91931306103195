/**
 * A plain deep CNN: `depth` 3×3 conv layers, each conv → [BN] → ReLU, with
 * no shortcuts. The width doubles and the resolution halves at one third and
 * at two thirds of the depth. Without shortcuts the depth effects of the
 * paper (exploding activations and gradients without BN) are at their
 * starkest.
 */
import * as L from './layers';
import { isInnerNorm, NORM_POINT_PREFIX } from './norm';
import { assembleModel, checkCommonOptions, checkPositiveInt, Model, newStore, PlainCnnOptions } from './model';

export function plainCnn(options: Omit<PlainCnnOptions, 'family'> & { family?: 'plain-cnn' }): Model {
  const o: PlainCnnOptions = { ...options, family: 'plain-cnn' };
  checkCommonOptions(o, 'plain-cnn');
  if (!Number.isInteger(o.depth) || o.depth < 1) throw new Error(`plain-cnn options: depth must be a positive integer, got ${o.depth}`);
  checkPositiveInt(o.width, 'plain-cnn options: width');
  const inner = isInnerNorm(o.norm) ? o.norm : null;
  const bnOpts = { momentum: o.bnMomentum ?? 0.1, epsilon: o.bnEpsilon ?? 1e-5 };
  const normOpts = { ...bnOpts, groups: o.groups };
  const store = newStore(o);
  const downAt = new Set([Math.floor(o.depth / 3), Math.floor((2 * o.depth) / 3)].filter((i) => i > 0));

  const layers: L.Layer[] = [];
  let channels = o.inputShape[2];
  let width = o.width ?? 16;
  for (let i = 0; i < o.depth; i++) {
    const down = downAt.has(i);
    if (down) width *= 2;
    const name = `layer${i + 1}`;
    const conv = { inChannels: channels, outChannels: width, kernel: 3, stride: down ? 2 : 1 };
    if (inner) {
      layers.push(L.conv2d(store, `${name}/conv`, { ...conv, bias: false }));
      layers.push(L.normLayer(store, inner, { norm: `${name}/${NORM_POINT_PREFIX[inner]}`, relu: `${name}/relu` }, width, normOpts));
    } else {
      layers.push(L.conv2dRelu(store, { conv: `${name}/conv`, relu: `${name}/relu` }, conv));
    }
    channels = width;
  }
  if (o.norm === 'final-only') layers.push(L.batchNorm(store, 'final/bn', channels, bnOpts));
  layers.push(L.globalAvgPool(store, 'pool'), L.dense(store, 'logits', { inFeatures: channels, outFeatures: o.numClasses }));
  return assembleModel(o, `plaincnn${o.depth}-${o.norm}`, store, L.sequence(...layers));
}
