export { inKernel, kernelChannel } from './kernel';
export type { KernelChannel, MimeBundle } from './kernel';
export { liveProgress, statusBundle, statusLines } from './progress';
export type { LiveProgress } from './progress';
export { chartBundle, show, SVG_MIME, VEGALITE_MIME } from './show';
export { markdownTable, showTable } from './table';
export type { TableOptions } from './table';
