/**
 * The swarm bench's own HTTP tracker (BEP 3 announce, BEP 23 compact peers): every announce, for
 * any info hash and from anyone, gets the same fixed peer list, the relays' addresses. So every
 * client under test meets exactly the same peers, and only through the relays; an announcing
 * client is never added to the list (seeders never announce: their torrent has no tracker).
 *
 * Invariants: listens on the loopback address given; answers only GET /announce; IPv4 peers only
 * (compact form is 6 bytes each); counts the announces it answered; `close()` ends every socket.
 */
import http from 'node:http';

/** A long interval: the list never changes during a run, so re-announcing buys nothing. */
const INTERVAL_S = 1800;

function compactPeers(peers) {
  const out = Buffer.alloc(peers.length * 6);
  peers.forEach((p, i) => {
    const octets = p.host.split('.').map(Number);
    if (octets.length !== 4 || octets.some((o) => !(o >= 0 && o <= 255))) throw new Error(`not IPv4: ${p.host}`);
    octets.forEach((o, j) => (out[i * 6 + j] = o));
    out.writeUInt16BE(p.port, i * 6 + 4);
  });
  return out;
}

function announceBody(peers) {
  const list = compactPeers(peers);
  return Buffer.concat([
    Buffer.from(`d8:completei${peers.length}e10:incompletei0e8:intervali${INTERVAL_S}e12:min intervali${INTERVAL_S}e5:peers${list.length}:`),
    list,
    Buffer.from('e'),
  ]);
}

/**
 * Resolves with { url, setPeers(peers), announces: () => number, close() }; `peers`: [{ host, port }].
 * The URL exists before the peers do (torrents carry it; relays come later): until setPeers, an
 * announce gets a failure reason.
 */
export async function startSwarmTracker(host) {
  let body = Buffer.from('d14:failure reason12:no peers yete');
  let announces = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/announce')) {
      res.writeHead(404).end();
      return;
    }
    announces++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
  });
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    url: `http://${host}:${server.address().port}/announce`,
    setPeers: (peers) => {
      body = announceBody(peers);
    },
    announces: () => announces,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
