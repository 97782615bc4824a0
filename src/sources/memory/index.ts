export { MemoryStore } from './store.js';
export type { MemoryRow, LogEntry, MemoryTransaction } from './store.js';
export { MemorySource } from './source.js';
export type { MemorySourceOptions } from './source.js';
