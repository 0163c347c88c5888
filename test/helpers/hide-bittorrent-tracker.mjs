// Preloaded with `node --import` (NODE_OPTIONS) by a CLI test: makes the optional package
// bittorrent-tracker look uninstalled, as on a machine that never installed it.
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'bittorrent-tracker' || specifier.startsWith('bittorrent-tracker/')) {
    const e = new Error("Cannot find package 'bittorrent-tracker'");
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
