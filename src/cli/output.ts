/** stdout writes that respect backpressure and end quietly when the reader has gone (EPIPE). */

export function writeOut(text: string | Uint8Array, stream: NodeJS.WritableStream = process.stdout): Promise<void> {
  return new Promise((resolve) => {
    const ok = stream.write(text, () => resolve());
    if (!ok) stream.once('drain', () => resolve());
  });
}
