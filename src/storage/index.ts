/** Where a torrent's bytes live (see storage.ts): the file backend, the memory store, resume data. */
export { FileStorage, type FileStorageOptions } from './file-storage.js';
export { MemoryStorage } from './memory-storage.js';
export { defaultCacheDir } from './resume.js';
export type { Storage } from './storage.js';
