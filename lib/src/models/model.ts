/**
 * What every model family returns, and the typed configs they take.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_INIT, ForwardContext, InitOptions, Layer, ParameterStore, PointInfo, Tap } from './layers';
import { Norm, NORMS } from './norm';
import { Rng } from '../util/rng';

export interface CommonModelOptions {
  /**
   * 'batch': BN after every conv; 'layer' / 'group': layer or group norm
   * after every conv; 'none': no norm (convs get a bias); 'final-only': one
   * BN on the last features, before the classifier.
   */
  norm: Norm;
  /** Group norm's groups, capped at each layer's channels, which it must divide. Default 32; other norms ignore it (so a grid can sweep the norm). */
  groups?: number;
  init?: InitOptions;
  /** Seeds the initial weights. */
  seed?: number;
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  numClasses: number;
  /** Weight of a new batch in BN's moving averages (PyTorch's convention). */
  bnMomentum?: number;
  bnEpsilon?: number;
}

export interface ResNetOptions extends CommonModelOptions {
  family: 'resnet';
  /** 6n + 2: 20, 32, 44, 56, 110 as in the CIFAR ResNets. */
  depth: number;
  /** Channels of the first stage; the stages have width, 2·width, 4·width. Default 16. */
  width?: number;
}

export interface PlainCnnOptions extends CommonModelOptions {
  family: 'plain-cnn';
  /** Number of 3×3 conv layers. */
  depth: number;
  /** Channels of the first third; doubled at one third and at two thirds of the depth. Default 16. */
  width?: number;
}

export interface MlpOptions extends CommonModelOptions {
  family: 'mlp';
  /** Number of hidden layers. */
  depth: number;
  /** Units per hidden layer. */
  width: number;
}

export type ModelOptions = ResNetOptions | PlainCnnOptions | MlpOptions;

export interface ApplyOptions {
  training: boolean;
  /** Default: `training`. */
  updateMovingStats?: boolean;
  tap?: Tap;
}

export interface Model {
  readonly options: Readonly<ModelOptions>;
  /** Short name, e.g. "resnet20-batch". */
  readonly name: string;
  /** Trainable parameters by path-like name, in creation (= depth) order. */
  readonly trainable: ReadonlyMap<string, tf.Variable>;
  /** BN moving statistics. */
  readonly state: ReadonlyMap<string, tf.Variable>;
  /** Every named point a tap sees, in forward order. */
  readonly points: readonly PointInfo[];
  /** Logits [batch, numClasses]. */
  apply(x: tf.Tensor, opts: ApplyOptions): tf.Tensor2D;
  parameterCount(): number;
  dispose(): void;
}

export function checkCommonOptions(o: CommonModelOptions, family: string): void {
  const where = `${family} options`;
  if (!NORMS.includes(o.norm)) throw new Error(`${where}: norm must be one of ${NORMS.join(', ')}, got ${JSON.stringify(o.norm)}`);
  checkPositiveInt(o.groups, `${where}: groups`);
  if (o.init?.scheme === 'fixup' && (family !== 'resnet' || o.norm !== 'none')) {
    throw new Error(
      `${where}: init 'fixup' is for residual networks without normalisation (family resnet, norm 'none'), got ${family} with norm ${JSON.stringify(o.norm)}`,
    );
  }
  if (!Array.isArray(o.inputShape) || o.inputShape.length !== 3 || o.inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${where}: inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(o.inputShape)}`);
  }
  if (!Number.isInteger(o.numClasses) || o.numClasses < 2)
    throw new Error(`${where}: numClasses must be an integer ≥ 2, got ${o.numClasses}`);
}

export function checkPositiveInt(value: number | undefined, what: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new Error(`${what} must be a positive integer, got ${value}`);
}

/** Builds the parameter store a family's builder fills in. */
export function newStore(o: CommonModelOptions): ParameterStore {
  return new ParameterStore(new Rng(o.seed ?? 0), { ...DEFAULT_INIT, ...o.init });
}

/** Wraps a family's forward function into a Model. */
export function assembleModel(options: ModelOptions, name: string, store: ParameterStore, forward: Layer): Model {
  const [h, w, c] = options.inputShape;
  return {
    options,
    name,
    trainable: store.trainable,
    state: store.state,
    points: store.points,
    apply(x, opts) {
      if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
        throw new Error(`${name}: input must be [batch, ${h}, ${w}, ${c}], got [${x.shape.join(', ')}]`);
      }
      const ctx: ForwardContext = { training: opts.training, updateMovingStats: opts.updateMovingStats ?? opts.training, tap: opts.tap };
      return forward(x, ctx) as tf.Tensor2D;
    },
    parameterCount() {
      let n = 0;
      for (const v of store.trainable.values()) n += v.size;
      return n;
    },
    dispose() {
      store.dispose();
    },
  };
}
