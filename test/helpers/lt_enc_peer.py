#!/usr/bin/python3
"""A python3-libtorrent peer with a chosen encryption policy, for the session's encryption
interop tests. Run with /usr/bin/python3 (Debian's libtorrent-rasterbar 2.0).

  lt_enc_peer.py seed  <file.torrent> <save_dir> --enc forced|disabled
      seeds on 127.0.0.1 (port 0); prints "ready <port>"; runs until stdin closes
  lt_enc_peer.py leech <file.torrent> <save_dir> --enc forced|disabled --peer host:port [--timeout S]
      dials the peer until connected; prints "done <seconds>" when complete (exit 0), "timeout" (exit 1)

forced: out_enc_policy = in_enc_policy = pe_forced and RC4 only (allowed_enc_level = pe_rc4):
every connection is MSE with an RC4 payload, a plaintext peer is refused. disabled: plaintext
only (an MSE handshake is refused). TCP only; loopback only: no DHT, LSD, UPnP, NAT-PMP, uTP.
"""
import sys
import threading
import time

import libtorrent as lt


def arg(flag, default=None):
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
    return default


def session(enc):
    policy = lt.enc_policy.pe_forced if enc == "forced" else lt.enc_policy.pe_disabled
    s = lt.default_settings()
    s.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "out_enc_policy": int(policy),
        "in_enc_policy": int(policy),
        "allowed_enc_level": int(lt.enc_level.pe_rc4 if enc == "forced" else lt.enc_level.pe_plaintext),
        "prefer_rc4": True,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    return lt.session(s)


def add(ses, torrent, save):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    return ses.add_torrent(atp)


def seed():
    ses = session(arg("--enc"))
    h = add(ses, sys.argv[2], sys.argv[3])
    h.force_recheck()
    deadline = time.time() + 60
    while not h.status().is_seeding:
        if time.time() > deadline:
            print("error: seeder never completed its check", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.05)
    print(f"ready {ses.listen_port()}", flush=True)
    stop = threading.Event()

    def wait():
        try:
            sys.stdin.read()
        except Exception:
            pass
        stop.set()

    threading.Thread(target=wait, daemon=True).start()
    while not stop.is_set():
        ses.pop_alerts()
        stop.wait(0.5)


def leech():
    ses = session(arg("--enc"))
    h = add(ses, sys.argv[2], sys.argv[3])
    host, _, port = arg("--peer").rpartition(":")
    timeout = float(arg("--timeout", "60"))
    t0 = time.time()
    next_connect = 0.0
    while time.time() - t0 < timeout:
        st = h.status()
        if st.is_seeding:
            print(f"done {time.time() - t0:.3f}", flush=True)
            return
        if st.num_peers == 0 and time.time() >= next_connect:
            next_connect = time.time() + 1.0
            h.connect_peer((host.strip("[]"), int(port)))
        ses.pop_alerts()
        time.sleep(0.02)
    print("timeout", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    {"seed": seed, "leech": leech}[sys.argv[1]]()
