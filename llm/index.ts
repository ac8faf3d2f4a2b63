// The package's LLM toolkit entry ('obt/llm'): load a model (llama2.c .bin, GGUF, safetensors, obt's
// model files), run it (ModelRunner: generation, perplexity), quantize it with a method written in
// .obt (knowledge distillation from the fp teacher), compare methods (ablate).
export { loadModel, type LoadedModel } from './load.ts';
export { ModelRunner, DEFAULT_MODEL, type RunnableModel } from './runner.ts';
export { perplexity, formatPpl, tokenStream, type PplResult } from './eval.ts';
export { quantize, Quantizer, KD_PROGRAM, type QuantizeOptions, type QuantizeReport } from './quantize.ts';
export { ablate, type AblationRun, type EvalProtocol, type RunResult } from './ablate.ts';
export { DEFAULT_METHOD, methodFromSource, resolveMethod, shippedMethods, type Method } from './method.ts';
export { Sampler } from './sampler.ts';
export { Tokenizer, type TokenizerData } from './io/tokenizer.ts';
export { LoadError, type Checkpoint, type LlamaConfig } from './io/model.ts';
export { readModelFile, writeModelFile, type ModelFile } from './io/modelfile.ts';
export { DEFAULT_EVAL, DEFAULT_KD_DATA, DEFAULT_STUDENT, DEFAULT_WEIGHTS } from './defaults.ts';
