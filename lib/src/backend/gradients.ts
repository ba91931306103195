/**
 * Gradients a training step needs, registered on any backend. tfjs-core's
 * CommonJS entry registers no gradients by itself; @tensorflow/tfjs (which
 * tfjs-node loads) pulls in its register_all_gradients module, so on wasm and
 * cpu nothing would. bnlab also adds a StridedSlice gradient, which tfjs lacks.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * StridedSlice's gradient scatters dy back to the positions the slice read.
 * Those positions are found by slicing a tensor of flat indices with the
 * very same attributes, so begin/end/stride masks, negative strides, new and
 * shrunk axes all come out right without re-deriving tfjs's slice rules.
 */
const stridedSliceGradConfig: tf.GradConfig = {
  kernelName: tf.StridedSlice,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const a = attrs as unknown as tf.StridedSliceAttrs;
    return {
      x: () => {
        if (x.size === 0) return tf.zerosLike(x);
        // The indices are sliced as float32 and cast afterwards: wasm's
        // StridedSlice labels its output float32 whatever the input's dtype
        // (tfjs-backend-wasm 4.22), which garbles int32. float32 holds every
        // integer up to 2^24 exactly.
        if (x.size > 2 ** 24) throw new Error(`bnlab: StridedSlice gradient supports inputs up to 2^24 elements, got ${x.size}`);
        const flat = tf.reshape(tf.range(0, x.size, 1, 'float32'), x.shape);
        const idx = tf.stridedSlice(
          flat,
          a.begin,
          a.end,
          a.strides,
          a.beginMask,
          a.endMask,
          a.ellipsisMask,
          a.newAxisMask,
          a.shrinkAxisMask,
        );
        const g = tf.scatterND(tf.cast(tf.reshape(idx, [-1, 1]), 'int32'), tf.reshape(dy as tf.Tensor, [-1]), [x.size]);
        return tf.reshape(g, x.shape);
      },
    };
  },
};

export function registerTrainingGradients(): void {
  if (tf.getGradient(tf.Conv2D) == null) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('@tensorflow/tfjs-core/dist/register_all_gradients');
  }
  if (tf.getGradient(tf.StridedSlice) == null) tf.registerGradient(stridedSliceGradConfig);
}
