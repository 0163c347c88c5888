/**
 * Web seeds (BEP 19 `url-list`, BEP 17 `httpseeds`): whole pieces over HTTP. The session builds
 * one WebSeed per usable URL (parseSeedUrl) and treats it as a peer that has every piece.
 */
export { WebSeed, createWebSeeds, type WebSeedCounters, type WebSeedKind, type WebSeedOptions, type WebSeedState } from './web-seed.js';
export { WebSeedError, isWebSeedError, type WebSeedErrorKind } from './webseed-error.js';
export { planRun, webSeedLayout, webSeedFileUrl, httpSeedUrl, parseSeedUrl, percentEncodeBytes, type FileRangeRequest, type RunPlan, type WebSeedLayout } from './plan.js';
export { retryDelayMs, parseRetryAfterMs } from './retry.js';
export { RunAssembler, type PieceSink } from './run-assembler.js';
export * from './limits.js';
