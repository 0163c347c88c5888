#!/usr/bin/python3
"""python3-libtorrent (Debian's libtorrent-rasterbar 2.0) on BitTorrent v2 torrents, for tests
that compare its view with ours. One JSON object on stdout. Run with /usr/bin/python3.

  lt_v2.py info <file.torrent>
      {"v1": hex or null, "v2": hex or null, "numPieces", "pieceLength", "files": [{path, size}],
       "pieceLayers": {hex root: hex layer}}  (pad files left out; v1/v2 null when absent)
  lt_v2.py create <path> <out.torrent> (--v2 | --hybrid) [--piece-length N]
      libtorrent's own creator on the same data; writes out.torrent, prints what `info` prints.
  lt_v2.py check <file.torrent> <save-dir>
      adds the torrent over existing data, waits for libtorrent's check (SHA-1 and merkle),
      prints {"have": pieces verified, "numPieces": n}. Bounded: 60 s.
"""
import json
import os
import sys
import time

import libtorrent as lt

CHECK_TIMEOUT_S = 60


def view(ti, raw):
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        files.append({"path": fs.file_path(i).replace("\\", "/"), "size": fs.file_size(i)})
    hashes = ti.info_hashes()
    layers = lt.bdecode(raw).get(b"piece layers", {}) if raw else {}
    return {
        "v1": str(hashes.v1) if hashes.has_v1() else None,
        "v2": str(hashes.v2) if hashes.has_v2() else None,
        "numPieces": ti.num_pieces(),
        "pieceLength": ti.piece_length(),
        "files": files,
        "pieceLayers": {k.hex(): v.hex() for k, v in layers.items()},
    }


def info(path):
    with open(path, "rb") as f:
        raw = f.read()
    return view(lt.torrent_info(path), raw)


def create(path, out, args):
    flags = lt.create_torrent.v2_only if "--v2" in args else 0
    piece_length = int(args[args.index("--piece-length") + 1]) if "--piece-length" in args else 0
    fs = lt.file_storage()
    lt.add_files(fs, path)
    ct = lt.create_torrent(fs, piece_length, flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    raw = lt.bencode(ct.generate())
    with open(out, "wb") as f:
        f.write(raw)
    return info(out)


def check(path, save):
    ses = lt.session({"enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
                      "listen_interfaces": "127.0.0.1:0"})
    h = ses.add_torrent({"ti": lt.torrent_info(path), "save_path": save})
    deadline = time.time() + CHECK_TIMEOUT_S
    while time.time() < deadline:
        s = h.status()
        if s.has_metadata and s.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
            break
        time.sleep(0.1)
    s = h.status()
    return {"have": s.num_pieces, "numPieces": h.torrent_file().num_pieces(), "error": str(s.errc.message()) if s.errc.value() else None}


def main():
    cmd = sys.argv[1]
    if cmd == "info":
        out = info(sys.argv[2])
    elif cmd == "create":
        out = create(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "check":
        out = check(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("usage: lt_v2.py info|create|check ...")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
