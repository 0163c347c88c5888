/**
 * Size limits of a .torrent (BEP 3, BEP 52). Owns nothing but numbers: every count and length a
 * torrent file can make us hold in memory or promise to store is bounded by a constant here, and
 * the parser (parse.ts, file-list.ts) checks each against its bound before it is trusted; the
 * builder (build.ts) refuses to make a torrent the parser would refuse.
 */

/** Largest .torrent we read: 2,000,000 pieces of hashes (40 MB) plus a file list. */
export const MAX_TORRENT_BYTES = 50 * 1024 * 1024;
/** libtorrent's default max_pieces; more cannot be tracked in a bitfield message of sane size. */
export const MAX_PIECES = 0x200000;
/** Largest piece we accept (libtorrent's limit): a piece is held in memory while it verifies. */
export const MAX_PIECE_LENGTH = 512 * 1024 * 1024;
/** More files than this is a file list no real torrent has, and an easy memory attack. */
export const MAX_FILES = 1_000_000;
/**
 * Largest file: libtorrent refuses files of (2^30 - 1) * 16 KiB or more (its block index would
 * overflow), so no peer could serve one to us.
 */
export const MAX_FILE_LENGTH = (2 ** 30 - 1) * 16384 - 1;
/** Largest torrent: libtorrent's 2^48 - 1 bytes; also far inside safe-integer range. */
export const MAX_TOTAL_LENGTH = 2 ** 48 - 1;
