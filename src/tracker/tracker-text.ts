/**
 * Text a tracker sends us (`failure reason`, `warning message`, UDP error strings) made safe to
 * show: decoded as UTF-8, control characters (including ESC, so no terminal escape sequences)
 * replaced by spaces, and cut to MAX_TRACKER_TEXT_CHARS. The bytes are untrusted and end up on a
 * user's terminal and in --json output.
 */

/** Long enough for any real tracker message; short enough that a hostile one cannot flood a log. */
export const MAX_TRACKER_TEXT_CHARS = 300;

// C0 controls, DEL, C1 controls, and the Unicode bidi overrides that can disguise text.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function trackerText(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .subarray(0, MAX_TRACKER_TEXT_CHARS * 4)
    .toString('utf8')
    .replace(UNSAFE, ' ')
    .trim();
  return text.length > MAX_TRACKER_TEXT_CHARS ? `${text.slice(0, MAX_TRACKER_TEXT_CHARS)}…` : text;
}
