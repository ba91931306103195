/**
 * The loss every part of bnlab trains and measures with. It lives beside the
 * models, not in the training loop, so the instruments (which take gradients
 * of the same loss) and the loop share one definition without the
 * instruments depending on the loop.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Mean cross-entropy of logits against one-hot labels. */
export function crossEntropy(labels: tf.Tensor2D, logits: tf.Tensor2D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}
