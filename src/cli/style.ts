/**
 * Colour decisions for one output stream: colour only on a TTY, never with NO_COLOR set
 * (no-color.org), always with FORCE_COLOR (chalk's own rule for its value).
 */
import { Chalk, type ChalkInstance } from 'chalk';

export function styleFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  if ('FORCE_COLOR' in env && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') {
    return new Chalk({ level: 1 });
  }
  if ('NO_COLOR' in env && env.NO_COLOR !== '') return new Chalk({ level: 0 });
  return new Chalk({ level: stream.isTTY ? 1 : 0 });
}
