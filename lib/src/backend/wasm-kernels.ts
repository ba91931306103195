// PLACEHOLDER: replaced by the wasm-kernel work (Conv2DBackpropFilter).
export function registerWasmTrainingKernels(): void {}
