#!/usr/bin/python3
"""python3-libtorrent peers for `npm run bench swarm` (Debian's libtorrent-rasterbar 2.0).

Run with /usr/bin/python3 (Debian's modules are not visible to other pythons).

  lt_swarm.py seeders <file.torrent> <save_dir> <count>
      <count> independent seeders (one lt.session each, in this one process), each listening on
      its own 127.0.0.1 port. Prints "ready <port>,<port>,..." once all seed, then runs until
      stdin closes or it is killed.
  lt_swarm.py leech <file.torrent> <save_dir> --profile stock|tuned [--timeout S]
      downloads through the torrent's tracker only; prints "done <seconds> <bytes>" and exits 0
      (1 on timeout).

Invariants of the seeders, which the bench relies on to prove every byte crossed a relay:
- They never dial anyone: outgoing TCP and uTP are off, the torrent they load has no tracker,
  PEX is off (BEP 11) and so are DHT/LSD/UPnP/NAT-PMP. So a leecher's real listen port, which it
  gives in its BEP 10 handshake `p`, is never used, and two seeders never meet.
- They listen only on 127.0.0.1 ports that the bench gives to its relays and to no client.
They trust their files (seed_mode): 16 seeders hashing 512 MiB each would take minutes.
"""
import sys
import threading
import time

import libtorrent as lt

# How long the seeders may take to open their ports and start seeding.
SEEDERS_READY_S = 60


def loopback_only(s, port):
    s.update({
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # The relays carry TCP only: a uTP attempt would wait for its time-out before TCP.
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    return s


def arg(flag, default=None):
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
    return default


def wait_stdin_close(stop):
    try:
        sys.stdin.read()
    except Exception:
        pass
    stop.set()


def trackerless(torrent):
    """The torrent without its announce URLs (the info dict, and so the info hash, unchanged)."""
    with open(torrent, "rb") as f:
        e = lt.bdecode(f.read())
    for k in (b"announce", b"announce-list"):
        e.pop(k, None)
    return lt.torrent_info(e)


def seeders():
    torrent, save, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    ti = trackerless(torrent)
    sessions = []
    handles = []
    for _ in range(count):
        s = loopback_only(lt.high_performance_seed(), 0)
        s.update({
            "enable_outgoing_tcp": False,
            "upload_rate_limit": 0,
            "download_rate_limit": 0,
        })
        ses = lt.session(s)
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = save
        atp.flags |= lt.torrent_flags.seed_mode | lt.torrent_flags.disable_pex
        # Not queued and not paused: every seeder serves from the start.
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        handles.append(ses.add_torrent(atp))
        sessions.append(ses)
    deadline = time.time() + SEEDERS_READY_S
    while not all(h.status().is_seeding for h in handles):
        if time.time() > deadline:
            print("error: seeders never started seeding", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.05)
    print("ready " + ",".join(str(ses.listen_port()) for ses in sessions), flush=True)
    stop = threading.Event()
    threading.Thread(target=wait_stdin_close, args=(stop,), daemon=True).start()
    while not stop.is_set():
        for ses in sessions:
            for a in ses.pop_alerts():
                if a.category() & lt.alert.category_t.error_notification:
                    print(f"alert: {a.message()}", file=sys.stderr)
        stop.wait(0.5)


def leech():
    torrent, save = sys.argv[2], sys.argv[3]
    profile = arg("--profile", "stock")
    timeout = float(arg("--timeout", "600"))
    if profile == "tuned":
        # libtorrent's own preset for fast machines: deeper request queues (max_out_request_queue
        # 1500), larger socket and disk buffers, more connections per second.
        s = lt.high_performance_seed()
    elif profile == "stock":
        s = lt.default_settings()
    else:
        print(f"error: unknown profile {profile}", file=sys.stderr)
        sys.exit(2)
    s = loopback_only(s, 0)
    ses = lt.session(s)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    t0 = time.time()
    h = ses.add_torrent(atp)
    while time.time() - t0 < timeout:
        st = h.status()
        if st.is_seeding:
            print(f"done {time.time() - t0:.3f} {st.total_wanted}", flush=True)
            return
        time.sleep(0.02)
    print("timeout", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    {"seeders": seeders, "leech": leech}[sys.argv[1]]()
