/** Strict lowercase/uppercase hex parsing: `Buffer.from(s, 'hex')` silently stops at bad input. */

const HEX = /^[0-9a-fA-F]*$/;

export function hexDecode(text: string): Buffer | null {
  if (text.length % 2 !== 0 || !HEX.test(text)) return null;
  return Buffer.from(text, 'hex');
}
