#!/usr/bin/python3
"""A python3-libtorrent leecher (Debian's libtorrent-rasterbar 2.0) given only a magnet URI, for
tests: it fetches the metadata (BEP 9) and, for a v2 torrent, the piece layers (BEP 52 hash
requests) from the peers it is told about, then the data. Run with /usr/bin/python3.

  lt_magnet.py <magnet> <save_dir> --peer host:port [--peer ...] [--timeout S] [--plaintext]

--plaintext: no MSE/PE, so a test can read the wire between it and the peer.

Prints "done <seconds> <bytes>" and exits 0 once it is seeding; "timeout" and exit 1 after S
seconds (default 120). Loopback only: no DHT, LSD, UPnP, NAT-PMP; TCP only.
"""
import sys
import time

import libtorrent as lt


def arg(flag, default=None, multi=False):
    vals = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == flag]
    if multi:
        return vals
    return vals[-1] if vals else default


def main():
    magnet, save = sys.argv[1], sys.argv[2]
    timeout = float(arg("--timeout", "120"))
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification,
        **({"out_enc_policy": int(lt.enc_policy.disabled)} if "--plaintext" in sys.argv else {}),
    })
    atp = lt.parse_magnet_uri(magnet)
    atp.save_path = save
    t0 = time.time()
    h = ses.add_torrent(atp)
    peers = arg("--peer", multi=True)
    next_connect = 0.0
    while time.time() - t0 < timeout:
        st = h.status()
        if st.is_seeding:
            print(f"done {time.time() - t0:.3f} {st.total_wanted}", flush=True)
            return
        if st.num_peers == 0 and time.time() >= next_connect:
            next_connect = time.time() + 1.0
            for p in peers:
                host, _, port = p.rpartition(":")
                h.connect_peer((host.strip("[]"), int(port)))
        for a in ses.pop_alerts():
            print(f"alert: {a.message()}", file=sys.stderr)
        time.sleep(0.05)
    print(f"timeout (state {h.status().state}, {h.status().num_pieces} pieces, metadata {h.status().has_metadata})", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
