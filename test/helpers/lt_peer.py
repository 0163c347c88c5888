#!/usr/bin/python3
"""A python3-libtorrent peer for tests and benchmarks (Debian's libtorrent-rasterbar 2.0).

Run with /usr/bin/python3 (Debian's modules are not visible to other pythons).

  lt_peer.py create <path> <out.torrent> [--piece-length N] [--tracker URL] [--pad]
      makes a v1 torrent of a file or folder (--pad: pad files aligned to pieces, BEP 47)
  lt_peer.py seed <file.torrent> <save_dir> [--port N] [--tracker-only]
  lt_peer.py leech <file.torrent> <save_dir> [--port N] [--peer host:port]... [--timeout S]
  lt_peer.py hub <file.torrent> <empty_dir> --peer host:port...
      holds no data and never downloads, but stays connected to the peers: a PEX source only

seed prints "ready <port>" on stdout once it listens and is seeding, then runs until stdin
closes or it is killed. leech prints "done <seconds> <bytes>" when the torrent is complete and
exits 0 (1 on timeout). Everything else goes to stderr. Only loopback: no DHT, LSD, UPnP, NAT-PMP.
"""
import os
import sys
import threading
import time

import libtorrent as lt


def settings(port):
    s = lt.high_performance_seed()
    s.update({
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # uTP (BEP 29) is tried first by default and only falls back to TCP after a 3 s timeout;
        # our client and aria2 speak TCP only, so every peer here uses TCP from the start.
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        # Keep connections between peers that have nothing to trade (a seed and an upload-only
        # hub): the PEX test needs the hub to stay connected to the seeder.
        "close_redundant_connections": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
    })
    return s


def arg(flag, default=None, multi=False):
    vals = []
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            vals.append(argv[i + 1])
    if multi:
        return vals
    return vals[-1] if vals else default


def wait_stdin_close(stop):
    try:
        sys.stdin.read()
    except Exception:
        pass
    stop.set()


def create():
    path, out = sys.argv[2], sys.argv[3]
    fs = lt.file_storage()
    lt.add_files(fs, path)
    flags = lt.create_torrent.v1_only
    if "--pad" in sys.argv:
        flags |= lt.create_torrent.canonical_files
    ct = lt.create_torrent(fs, int(arg("--piece-length", "0")), flags=flags)
    tr = arg("--tracker")
    if tr:
        ct.add_tracker(tr)
    ct.set_creator("lt_peer.py")
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))


def seed():
    torrent, save = sys.argv[2], sys.argv[3]
    port = int(arg("--port", "0"))
    ses = lt.session(settings(port))
    ti = lt.torrent_info(torrent)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    h = ses.add_torrent(atp)
    h.force_recheck()
    deadline = time.time() + 120
    while time.time() < deadline:
        st = h.status()
        if st.is_seeding:
            break
        if st.errc.value() != 0:
            print(f"error: {st.errc.message()}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.05)
    else:
        print("error: seeder never completed its check", file=sys.stderr)
        sys.exit(1)
    h.force_reannounce()
    print(f"ready {ses.listen_port()}", flush=True)
    stop = threading.Event()
    threading.Thread(target=wait_stdin_close, args=(stop,), daemon=True).start()
    while not stop.is_set():
        for a in ses.pop_alerts():
            if a.category() & lt.alert.category_t.error_notification:
                print(f"alert: {a.message()}", file=sys.stderr)
        stop.wait(0.5)


def leech():
    torrent, save = sys.argv[2], sys.argv[3]
    port = int(arg("--port", "0"))
    timeout = float(arg("--timeout", "600"))
    ses = lt.session(settings(port))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    t0 = time.time()
    h = ses.add_torrent(atp)
    peers = arg("--peer", multi=True)
    next_connect = 0.0
    # connect_peer is ignored while the torrent is still checking its (empty) files: retry until
    # the peer is connected.
    while time.time() - t0 < timeout:
        st = h.status()
        if st.is_seeding:
            print(f"done {time.time() - t0:.3f} {st.total_wanted}", flush=True)
            return
        if peers and st.num_peers == 0 and time.time() >= next_connect:
            next_connect = time.time() + 1.0
            for p in peers:
                host, _, pport = p.rpartition(":")
                h.connect_peer((host.strip("[]"), int(pport)))
        time.sleep(0.02)
    print("timeout", flush=True)
    sys.exit(1)


def hub():
    """A peer with none of the data that never downloads (upload mode) but stays connected to
    the given peers: it can only point others at them, through PEX (BEP 11)."""
    torrent, save = sys.argv[2], sys.argv[3]
    ses = lt.session(settings(0))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    atp.flags |= lt.torrent_flags.upload_mode
    h = ses.add_torrent(atp)
    peers = arg("--peer", multi=True)
    deadline = time.time() + 30
    while time.time() < deadline and h.status().num_peers < len(peers):
        for p in peers:
            host, _, pport = p.rpartition(":")
            h.connect_peer((host.strip("[]"), int(pport)))
        time.sleep(1.0)
    print(f"ready {ses.listen_port()}", flush=True)
    stop = threading.Event()
    threading.Thread(target=wait_stdin_close, args=(stop,), daemon=True).start()
    while not stop.is_set():
        for p in peers:
            if h.status().num_peers < len(peers):
                host, _, pport = p.rpartition(":")
                h.connect_peer((host.strip("[]"), int(pport)))
        stop.wait(1.0)


if __name__ == "__main__":
    {"create": create, "seed": seed, "leech": leech, "hub": hub}[sys.argv[1]]()
