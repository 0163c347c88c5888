#!/usr/bin/python3
"""A python3-libtorrent peer that speaks uTP only (BEP 29): TCP off both ways, uTP on.

Run with /usr/bin/python3 (Debian's modules are not visible to other pythons).

  lt_utp_peer.py seed <file.torrent> <save_dir>
      prints "ready <port>" once seeding on 127.0.0.1:<port> (UDP for uTP), runs until stdin closes
  lt_utp_peer.py leech <file.torrent> <save_dir> --peer host:port [--timeout S] [--tcp]
      dials the peer over uTP (or TCP with --tcp, for comparison), prints "done <seconds> <bytes>"
      when complete and exits 0; "timeout" and exit 1 otherwise

Only loopback: no DHT, LSD, UPnP, NAT-PMP. Errors and peer events go to stderr.
"""
import sys
import threading
import time

import libtorrent as lt


def settings(tcp):
    s = lt.high_performance_seed()
    s.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_tcp": tcp,
        "enable_incoming_tcp": tcp,
        "enable_outgoing_utp": not tcp,
        "enable_incoming_utp": not tcp,
        # Plain BitTorrent handshakes: the test speaks the wire protocol, not MSE/PE encryption
        # (libtorrent otherwise tries an encrypted handshake first on outgoing connections).
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "close_redundant_connections": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.status_notification,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
    })
    return s


def arg(flag, default=None):
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
    return default


def log_alerts(ses):
    for a in ses.pop_alerts():
        print(f"alert: {a.what()}: {a.message()}", file=sys.stderr, flush=True)


def seed():
    torrent, save = sys.argv[2], sys.argv[3]
    ses = lt.session(settings("--tcp" in sys.argv))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    h = ses.add_torrent(atp)
    h.force_recheck()
    deadline = time.time() + 120
    while time.time() < deadline and not h.status().is_seeding:
        time.sleep(0.05)
    if not h.status().is_seeding:
        print("error: seeder never completed its check", file=sys.stderr)
        sys.exit(1)
    print(f"ready {ses.listen_port()}", flush=True)
    stop = threading.Event()

    def wait_stdin():
        try:
            sys.stdin.read()
        except Exception:
            pass
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    while not stop.is_set():
        log_alerts(ses)
        stop.wait(0.2)


def leech():
    torrent, save = sys.argv[2], sys.argv[3]
    timeout = float(arg("--timeout", "60"))
    host, _, port = arg("--peer").rpartition(":")
    ses = lt.session(settings("--tcp" in sys.argv))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    t0 = time.time()
    h = ses.add_torrent(atp)
    next_connect = 0.0
    while time.time() - t0 < timeout:
        st = h.status()
        if st.is_seeding:
            print(f"done {time.time() - t0:.3f} {st.total_wanted}", flush=True)
            return
        if st.num_peers == 0 and time.time() >= next_connect:
            next_connect = time.time() + 1.0
            h.connect_peer((host.strip("[]"), int(port)))
        log_alerts(ses)
        time.sleep(0.02)
    log_alerts(ses)
    ses.post_session_stats()
    time.sleep(0.2)
    for a in ses.pop_alerts():
        if isinstance(a, lt.session_stats_alert):
            vals = a.values
            print("stats " + " ".join(f"{k}={v}" for k, v in vals.items() if "utp" in k and v), file=sys.stderr, flush=True)
    print("timeout", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    {"seed": seed, "leech": leech}[sys.argv[1]]()
