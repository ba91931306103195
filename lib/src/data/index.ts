/**
 * The data stage: datasets as typed arrays (NHWC), their loaders, and the
 * batching, normalisation and augmentation the training loop uses.
 */
export * from './dataset';
export * from './idx';
export * from './paths';
export * from './fashion-mnist';
export * from './cifar10';
export * from './download';
