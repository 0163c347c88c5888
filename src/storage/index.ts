/** Where a torrent's bytes live (see storage.ts): the file backend, the memory store, the start-up check, resume data, hashing files. */
export { checkExisting, type CheckOptions, type CheckResult } from './check.js';
export { checkExistingV2, type CheckV2Options, type CheckV2Result } from './check-v2.js';
export { FileStorage, type FileStorageOptions } from './file-storage.js';
export { hashAllPieces, hashFiles, hashV2Files, type HashOptions, type HashSource, type V2HashOptions, type V2Hashes } from './hash-files.js';
export { MemoryStorage } from './memory-storage.js';
export { defaultCacheDir } from './resume.js';
export type { Storage } from './storage.js';
