/** The immutable result of parsing a .torrent: everything later layers may trust blindly. */

export interface TorrentFile {
  /** Sanitised components relative to the torrent's root folder (single-file: [name]). */
  readonly path: readonly string[];
  readonly length: number;
  /** Byte offset of the file in the torrent's concatenated data (pad files included). */
  readonly offset: number;
  /** BEP 47 pad file: zeros, never written to disk, excluded from listings. */
  readonly pad: boolean;
  readonly executable: boolean;
  readonly hidden: boolean;
  /** BEP 47 symlink target (sanitised components, relative to the root folder), else null. */
  readonly symlink: readonly string[] | null;
  /** BEP 52 merkle root of the file (32 bytes), for v2 and hybrid torrents. */
  readonly piecesRoot: Buffer | null;
}

export type MetaVersion = 1 | 2 | 'hybrid';

export interface Metainfo {
  /** SHA-1 of the info dict's bytes as they stand in the file; null for a v2-only torrent. */
  readonly infoHash: Buffer | null;
  /** SHA-256 of the same bytes for v2 and hybrid torrents (BEP 52), else null. */
  readonly infoHashV2: Buffer | null;
  /** The raw bencoded info dictionary (served to peers by ut_metadata, BEP 9). */
  readonly infoBytes: Buffer;
  readonly version: MetaVersion;
  /** Sanitised; also the root folder name of a multi-file torrent. */
  readonly name: string;
  readonly multiFile: boolean;
  readonly pieceLength: number;
  readonly pieceCount: number;
  /** Concatenated 20-byte SHA-1 piece hashes (v1 and hybrid), else null. */
  readonly pieces: Buffer | null;
  /** BEP 52 piece layers: hex pieces root -> concatenated 32-byte hashes. */
  readonly pieceLayers: ReadonlyMap<string, Buffer>;
  /** All files in torrent order, pad files included. */
  readonly files: readonly TorrentFile[];
  /** Sum of all file lengths, pad files included: the span pieces cover. */
  readonly totalLength: number;
  /** Sum of non-pad file lengths: what a user downloads. */
  readonly length: number;
  /** Tracker tiers (BEP 12), from announce-list, else announce. */
  readonly announce: readonly (readonly string[])[];
  /** BEP 19 web seeds. */
  readonly urlList: readonly string[];
  /** BEP 17 HTTP seeds. */
  readonly httpSeeds: readonly string[];
  /** BEP 27. */
  readonly private: boolean;
  readonly comment: string | null;
  readonly createdBy: string | null;
  /** Unix seconds. */
  readonly creationDate: number | null;
  /** Oddities that did not make the torrent invalid (shown by `torrent info`). */
  readonly warnings: readonly string[];
}
