/**
 * The storage interface the session talks to. Only verified pieces are ever written; reads serve
 * uploads and the resume check. Implementations: FileStorage (disk) and MemoryStorage (tests,
 * --no-save streaming).
 */

export interface Storage {
  /** Writes a verified piece, given as its blocks in order. Resolves once the OS has the data. */
  writePiece(piece: number, blocks: readonly Buffer[]): Promise<void>;
  /** Reads `length` bytes at `begin` within a piece we have. */
  readBlock(piece: number, begin: number, length: number): Promise<Buffer>;
  /**
   * Reads a whole piece, or null when a file it needs is missing or too short. (A never-written
   * range inside a sparse file reads as zeros: callers verify the hash before trusting it.)
   * `into`, when at least the piece's size, may be read into (the result is then a view of it).
   */
  readPiece(piece: number, into?: Buffer): Promise<Buffer | null>;
  /** Flushes and closes everything; idempotent. */
  close(): Promise<void>;
}
