/**
 * Bounds of the web-seed fetcher (BEP 19 `url-list`, BEP 17 `httpseeds`). Owns nothing but
 * numbers: every byte a web server can make us hold, every wait it can make us sit through and
 * every hop it can send us on is bounded by a constant here, and each says why.
 *
 * Invariants: byte counts are bytes, times are milliseconds; no constant depends on another
 * module's state.
 */

/**
 * Largest run of pieces one `fetchPieces` call may ask for. A run is held in piece buffers until
 * each of its pieces is complete, so this is the memory one call can pin: with
 * MAX_CONNECTIONS_PER_SERVER runs in flight a server can make us hold at most 4 × 32 MiB. Large
 * enough for a run of 8 pieces of 4 MiB (the common piece size of large torrents), so one Range
 * request still moves megabytes and the per-request HTTP overhead stays negligible.
 */
export const MAX_RUN_BYTES = 32 * 1024 * 1024;

/**
 * Connections we open to one web server. A web seed is one server that many clients share: a few
 * connections hide request latency (headers, TCP slow start per response) without looking like a
 * download accelerator to its operator. aria2c's default for one server (`-x`) is 1 and its
 * ceiling 16; 4 sits between.
 */
export const MAX_CONNECTIONS_PER_SERVER = 4;

/**
 * Redirect hops followed for one request. Mirror redirectors (archive.org, SourceForge,
 * MirrorBrain) use one or two; more than 5 is a misconfiguration or a trap.
 */
export const MAX_REDIRECTS = 5;

/**
 * No byte from the server (neither headers nor body) for this long and the request is abandoned.
 * A web seed that stalls holds pieces nobody else is fetching; 20 s is as long as a peer may stay
 * silent on a request before we give up on it.
 */
export const STALL_TIMEOUT_MS = 20_000;

/**
 * Whole-request deadline: a fixed allowance for connecting and the first byte plus the time the
 * body takes at MIN_SERVER_BYTES_PER_S. A server slower than that on average is worth less than
 * any peer, so a request to it is cut off even if it never stalls outright.
 */
export const REQUEST_TIMEOUT_BASE_MS = 30_000;
export const MIN_SERVER_BYTES_PER_S = 16 * 1024;

/**
 * Bytes of an error body we read (a BEP 17 503 body is an ASCII number of seconds; a 4xx page is
 * read only to be thrown away). Anything longer is cut off: an error page must not cost memory.
 */
export const MAX_ERROR_BODY_BYTES = 1024;

/**
 * Retry back-off after a failed request: RETRY_BASE_MS × 2^(attempt-1), capped at RETRY_MAX_MS.
 * The first retry is soon (a server restart, a dropped connection), later ones leave an
 * overloaded server alone for minutes instead of adding to its load.
 */
export const RETRY_BASE_MS = 5_000;
export const RETRY_MAX_MS = 10 * 60_000;

/**
 * A server's own wait (HTTP Retry-After, or the number of seconds in a BEP 17 503 body) is
 * honoured up to an hour; a larger number is treated as an hour so a typo on the server cannot
 * park a seed for days.
 */
export const MAX_SERVER_RETRY_AFTER_MS = 60 * 60_000;

/**
 * Consecutive failed requests after which a web seed is given up for this session. With the
 * schedule above, 8 failures span about 20 minutes of retrying.
 */
export const MAX_CONSECUTIVE_FAILURES = 8;

/** Redirect targets remembered per web seed (original URL -> final URL), so a redirector is asked once per file. */
export const MAX_REMEMBERED_REDIRECTS = 1024;
