/**
 * Multiply-adds of a forward pass, counted from the layers a model actually
 * runs (conv and dense points), so the count follows any change to a builder.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Model } from './model';

export interface MacCount {
  /** Multiply-adds of one image's forward pass. */
  perImageForward: number;
  byLayer: { name: string; macs: number }[];
}

export function countForwardMacs(model: Model): MacCount {
  const [h, w, c] = model.options.inputShape;
  const byLayer: { name: string; macs: number }[] = [];
  const kinds = new Map(model.points.map((p) => [p.name, p.kind]));
  tf.tidy(() => {
    model.apply(tf.zeros([2, h, w, c]), {
      training: false,
      tap: (name, x) => {
        const kind = kinds.get(name);
        if (kind !== 'conv' && kind !== 'dense') return;
        const kernel = model.trainable.get(`${name}/kernel`);
        if (!kernel) return;
        // Per output element: one multiply-add per kernel entry feeding it.
        const perOutput = kernel.size / kernel.shape[kernel.rank - 1];
        const outputsPerImage = x.size / x.shape[0];
        byLayer.push({ name, macs: perOutput * outputsPerImage });
      },
    });
  });
  return { perImageForward: byLayer.reduce((a, b) => a + b.macs, 0), byLayer };
}
