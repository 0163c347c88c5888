#!/usr/bin/python3
"""A python3-libtorrent peer that speaks only encrypted connections (MSE/PE), for the MSE interop
tests. Run with /usr/bin/python3 (Debian's libtorrent-rasterbar 2.0).

  lt_mse_peer.py seed <file.torrent> <save_dir>
      seeds on 127.0.0.1, port 0; prints "ready <port> <info hash hex>"
  lt_mse_peer.py dial <file.torrent> <save_dir> <host:port>
      seeds the same data and keeps dialling host:port (libtorrent as the MSE initiator);
      prints "ready <port> <info hash hex>"

Both force encryption both ways (out_enc_policy = in_enc_policy = pe_forced) with RC4 as the
only payload method (allowed_enc_level = pe_rc4), so a plaintext peer is refused and every byte
after the MSE handshake is RC4. Both run until stdin closes or they are killed. Loopback only:
no DHT, LSD, UPnP, NAT-PMP, uTP.
"""
import sys
import threading
import time

import libtorrent as lt


def session():
    s = lt.default_settings()
    s.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "out_enc_policy": int(lt.enc_policy.pe_forced),
        "in_enc_policy": int(lt.enc_policy.pe_forced),
        "allowed_enc_level": int(lt.enc_level.pe_rc4),
        "prefer_rc4": True,
        "allow_multiple_connections_per_ip": True,
        "close_redundant_connections": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification,
    })
    return lt.session(s)


def add_seed(ses, torrent, save):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    h = ses.add_torrent(atp)
    h.force_recheck()
    deadline = time.time() + 60
    while time.time() < deadline:
        if h.status().is_seeding:
            return h, str(atp.ti.info_hashes().v1)
        time.sleep(0.05)
    print("error: seeder never completed its check", file=sys.stderr)
    sys.exit(1)


def run_until_stdin_closes(ses, tick=None):
    stop = threading.Event()

    def wait():
        try:
            sys.stdin.read()
        except Exception:
            pass
        stop.set()

    threading.Thread(target=wait, daemon=True).start()
    while not stop.is_set():
        for a in ses.pop_alerts():
            print(f"alert: {a.message()}", file=sys.stderr, flush=True)
        if tick:
            tick()
        stop.wait(0.2)


def main():
    mode, torrent, save = sys.argv[1], sys.argv[2], sys.argv[3]
    ses = session()
    h, ih = add_seed(ses, torrent, save)
    print(f"ready {ses.listen_port()} {ih}", flush=True)
    if mode == "seed":
        run_until_stdin_closes(ses)
    elif mode == "dial":
        host, _, port = sys.argv[4].rpartition(":")
        last = [0.0]

        def tick():
            if h.status().num_peers == 0 and time.time() - last[0] > 1.0:
                last[0] = time.time()
                h.connect_peer((host, int(port)))

        run_until_stdin_closes(ses, tick)
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
