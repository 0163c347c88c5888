/**
 * Preloaded (`node --require`) into webtorrent-cli for `npm run bench swarm`: the CLI has no
 * flags for them, so this turns off webtorrent's LSD (BEP 14 multicast, not allowed here) and
 * DHT (the other clients run without one), as aria2c's --bt-enable-lpd=false --enable-dht=false.
 * Everything else stays webtorrent's default. Needs WEBTORRENT_CLI_BIN, the CLI's bin/cmd.js,
 * to find the webtorrent package that CLI imports (an ES import of a CommonJS package reuses the
 * require cache, so the subclass put there is what the CLI gets).
 */
const { createRequire } = require('node:module');

const req = createRequire(process.env.WEBTORRENT_CLI_BIN);
const path = req.resolve('webtorrent');
const WebTorrent = req('webtorrent');
class WebTorrentNoLsd extends WebTorrent {
  constructor(opts = {}) {
    super({ ...opts, lsd: false, dht: false });
  }
}
require.cache[path].exports = WebTorrentNoLsd;
