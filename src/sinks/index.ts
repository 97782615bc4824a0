export { MemorySink } from './memory.js';
export { JsonlSink } from './jsonl.js';
export type { JsonlSinkOptions, JsonlRecord } from './jsonl.js';
export { ArrowIpcSink } from './arrow-ipc.js';
export type { ArrowIpcSinkOptions } from './arrow-ipc.js';
export type { OutputTarget } from './output.js';
