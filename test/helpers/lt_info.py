#!/usr/bin/python3
"""What python3-libtorrent (Debian's libtorrent-rasterbar 2.0) reads in a .torrent, as one JSON
object on stdout, so tests can compare libtorrent's view with ours.

  lt_info.py <file.torrent>

Keys: infoHash (v1, hex), name, pieceLength, numPieces, totalSize, private, comment, creator,
files [{path, size}] (pad files left out; paths joined with "/"), trackers [{url, tier}],
webSeeds [url]. Run with /usr/bin/python3 (Debian's modules are not visible to other pythons).
"""
import json
import sys

import libtorrent as lt


def main():
    ti = lt.torrent_info(sys.argv[1])
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        files.append({"path": fs.file_path(i).replace("\\", "/"), "size": fs.file_size(i)})
    print(json.dumps({
        "infoHash": str(ti.info_hashes().v1),
        "name": ti.name(),
        "pieceLength": ti.piece_length(),
        "numPieces": ti.num_pieces(),
        "totalSize": ti.total_size(),
        "private": ti.priv(),
        "comment": ti.comment(),
        "creator": ti.creator(),
        "files": files,
        "trackers": [{"url": t.url, "tier": t.tier} for t in ti.trackers()],
        "webSeeds": [w["url"] for w in ti.web_seeds()],
    }))


if __name__ == "__main__":
    main()
