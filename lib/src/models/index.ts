import { mlp } from './mlp';
import { Model, ModelOptions } from './model';
import { plainCnn } from './plain-cnn';
import { resnet } from './resnet';

export * from './layers';
export * from './norm';
export * from './loss';
export * from './model';
export { resnet, optionAShortcut } from './resnet';
export { plainCnn } from './plain-cnn';
export { mlp } from './mlp';

/** Builds any family from its options object (what a run config stores). */
export function buildModel(options: ModelOptions): Model {
  switch (options.family) {
    case 'resnet':
      return resnet(options);
    case 'plain-cnn':
      return plainCnn(options);
    case 'mlp':
      return mlp(options);
    default:
      throw new Error(`unknown model family ${JSON.stringify((options as { family?: unknown }).family)}; use resnet, plain-cnn or mlp`);
  }
}
export * from './flops';
