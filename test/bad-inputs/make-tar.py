"""Writes an uncompressed tar exactly as a JSON spec on stdin says, hostile entries included.

GNU tar strips `..`, leading `/` and link targets when it creates an archive; Python's tarfile
writes names as given, as a hostile or broken producer would.
spec: {"entries": [{"name", "kind": file|dir|symlink|hardlink|fifo|chardev,
                    "source": path to copy | "text": str | "size": n filler bytes, "link": target}]}
usage: make-tar.py OUT.tar < spec.json
"""
import io
import json
import sys
import tarfile

KINDS = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
}

spec = json.load(sys.stdin)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
    for e in spec["entries"]:
        info = tarfile.TarInfo(e["name"])
        info.type = KINDS[e.get("kind", "file")]
        info.mode = 0o755 if info.type == tarfile.DIRTYPE else 0o644
        info.mtime = 1_700_000_000
        info.linkname = e.get("link", "")
        if info.type == tarfile.CHRTYPE:
            info.devmajor, info.devminor = 1, 3
        data = None
        if info.type == tarfile.REGTYPE:
            if "source" in e:
                with open(e["source"], "rb") as f:
                    data = f.read()
            elif "text" in e:
                data = e["text"].encode("utf-8", "surrogatepass")
            else:
                data = b"\x07" * e.get("size", 0)
            info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
