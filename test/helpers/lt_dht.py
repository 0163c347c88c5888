#!/usr/bin/python3
"""A python3-libtorrent (Debian's libtorrent-rasterbar 2.0.8) Mainline DHT node (BEP 5) on loopback.

Run with /usr/bin/python3 (Debian's modules are not visible to other pythons).

  lt_dht.py [--port N] [--bootstrap host:port]... [--node host:port]... [--torrent F --save DIR]
            [--announce-every S] [--log]

Starts one lt session on 127.0.0.1 with the DHT enabled and bootstrapped ONLY from the given
nodes (no default router: `dht_bootstrap_nodes` is replaced, and an empty list means none). With
--torrent it also seeds that torrent from DIR and announces it to the DHT every S seconds (default
2) once the DHT knows a node.

--bootstrap vs --node: libtorrent treats `dht_bootstrap_nodes` entries as routers. It asks them
during bootstrap and lookups but never puts them in its routing table (so never names them in a
`nodes` reply). --node uses add_dht_node instead: the node is pinged and, if it answers, becomes
an ordinary routing-table entry that libtorrent hands out to others.

stdout, one event a line:
  ready <tcpport> <dhtport>          listening (and, with --torrent, seeding)
  nodes <n>                          the routing table size changed
  announce <infohash-hex> <ip> <port>  a node sent us announce_peer (dht_announce_alert)
Runs until stdin closes or it is killed. Everything else goes to stderr (--log: DHT packet log).

libtorrent restricts the DHT in ways that break a one-host test network, all turned off here:
  dht_restrict_routing_ips  one routing-table entry per IP: every test node is 127.0.0.1. Seen
                            on 2.0.8: with it on, a node that knows one loopback node never adds
                            a second one, nor hands it out in `nodes`.
  dht_restrict_search_ips   the same rule inside lookups (traversals)
  dht_prefer_verified_node_ids  prefers BEP 42 ids derived from the node's IP; ours are random
  dht_enforce_node_id       (off by default) would drop nodes whose id does not match their IP
  dht_ignore_dark_internet  drops packets from some unrouted ranges (not 127/8: off for clarity)
  dht_block_ratelimit       bans an IP sending more than N packets/s (about 5 by default) for
                            dht_block_timeout s; all test nodes share 127.0.0.1
  dht_upload_rate_limit     8 KB/s by default, shared by everything the node sends
No LSD, UPnP, NAT-PMP, and uTP off (TCP peers only, as in lt_peer.py).
"""
import sys
import threading
import time

import libtorrent as lt


def arg(flag, default=None, multi=False):
    vals = []
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            vals.append(argv[i + 1])
    if multi:
        return vals
    return vals[-1] if vals else default


def settings(port, bootstrap, log):
    mask = (lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
            | lt.alert.category_t.dht_notification | lt.alert.category_t.stats_notification)
    if log:
        mask |= lt.alert.category_t.dht_log_notification
    return {
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "dht_ignore_dark_internet": False,
        "dht_read_only": False,
        "dht_block_ratelimit": 1_000_000,
        "dht_upload_rate_limit": 1_000_000,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": mask,
    }


def wait_stdin_close(stop):
    try:
        sys.stdin.read()
    except Exception:
        pass
    stop.set()


def main():
    port = int(arg("--port", "0"))
    bootstrap = arg("--bootstrap", multi=True)
    torrent, save = arg("--torrent"), arg("--save")
    every = float(arg("--announce-every", "2"))
    log = "--log" in sys.argv
    ses = lt.session(settings(port, bootstrap, log))
    for n in arg("--node", multi=True):
        host, _, nport = n.rpartition(":")
        ses.add_dht_node((host, int(nport)))

    ports = {}
    table = {"nodes": 0}
    stop = threading.Event()

    def pump():
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                ports[str(a.socket_type)] = a.port
            elif isinstance(a, lt.dht_stats_alert):
                table["nodes"] = sum(b["num_nodes"] for b in a.routing_table)
            elif isinstance(a, lt.dht_announce_alert):
                print(f"announce {a.info_hash} {a.ip} {a.port}", flush=True)
            elif isinstance(a, lt.listen_failed_alert):
                print(f"error: {a.message()}", file=sys.stderr, flush=True)
                sys.exit(1)
            elif log or a.category() & lt.alert.category_t.error_notification:
                print(f"alert: {a.message()}", file=sys.stderr, flush=True)

    deadline = time.time() + 60
    while "tcp" not in ports or "udp" not in ports:
        if time.time() > deadline:
            print(f"error: not listening: {ports}", file=sys.stderr)
            sys.exit(1)
        pump()
        time.sleep(0.02)

    h = None
    if torrent:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent)
        atp.save_path = save
        h = ses.add_torrent(atp)
        h.force_recheck()
        while not h.status().is_seeding:
            st = h.status()
            if st.errc.value() != 0:
                print(f"error: {st.errc.message()}", file=sys.stderr)
                sys.exit(1)
            if time.time() > deadline:
                print("error: seeder never completed its check", file=sys.stderr)
                sys.exit(1)
            pump()
            time.sleep(0.05)

    print(f"ready {ports['tcp']} {ports['udp']}", flush=True)
    threading.Thread(target=wait_stdin_close, args=(stop,), daemon=True).start()
    nodes = -1
    next_announce = 0.0
    while not stop.is_set():
        ses.post_dht_stats()
        pump()
        n = table["nodes"]
        if n != nodes:
            nodes = n
            print(f"nodes {n}", flush=True)
        if h is not None and n > 0 and time.time() >= next_announce:
            next_announce = time.time() + every
            h.force_dht_announce()
        stop.wait(0.1)


if __name__ == "__main__":
    main()
