/**
 * A deep fully connected network: the image is flattened, then `depth`
 * hidden layers of `width` units, each dense → [BN] → ReLU, then a linear
 * classifier. The closest trainable model to the paper's random-matrix
 * analysis (a product of Gaussian matrices).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as L from './layers';
import { isInnerNorm, NORM_POINT_PREFIX } from './norm';
import { assembleModel, checkCommonOptions, checkPositiveInt, MlpOptions, Model, newStore } from './model';

export function mlp(options: Omit<MlpOptions, 'family'> & { family?: 'mlp' }): Model {
  const o: MlpOptions = { ...options, family: 'mlp' };
  checkCommonOptions(o, 'mlp');
  if (!Number.isInteger(o.depth) || o.depth < 0) throw new Error(`mlp options: depth must be an integer ≥ 0, got ${o.depth}`);
  checkPositiveInt(o.width, 'mlp options: width');
  if (o.width === undefined) throw new Error('mlp options: width is required');
  const inner = isInnerNorm(o.norm) ? o.norm : null;
  const bnOpts = { momentum: o.bnMomentum ?? 0.1, epsilon: o.bnEpsilon ?? 1e-5 };
  const normOpts = { ...bnOpts, groups: o.groups };
  const store = newStore(o);
  const [h, w, c] = o.inputShape;

  const layers: L.Layer[] = [(x) => tf.reshape(x, [x.shape[0], h * w * c])];
  let features = h * w * c;
  for (let i = 0; i < o.depth; i++) {
    const name = `layer${i + 1}`;
    layers.push(L.dense(store, `${name}/dense`, { inFeatures: features, outFeatures: o.width }));
    const names = { norm: `${name}/${inner ? NORM_POINT_PREFIX[inner] : ''}`, relu: `${name}/relu` };
    layers.push(inner ? L.normLayer(store, inner, names, o.width, normOpts) : L.relu(store, names.relu));
    features = o.width;
  }
  if (o.norm === 'final-only') layers.push(L.batchNorm(store, 'final/bn', features, bnOpts));
  layers.push(L.dense(store, 'logits', { inFeatures: features, outFeatures: o.numClasses }));
  return assembleModel(o, `mlp${o.depth}x${o.width}-${o.norm}`, store, L.sequence(...layers));
}
