#!/usr/bin/env python3
"""Synthetic 1 GiB layer for bench/convert's memory check.

    make_1g_layer.py                      # writes a tar with one 1 GiB file to stdout
    make_1g_layer.py --layout DIR BLOB    # wraps a gzip layer blob into an OCI layout (tag latest)

The file content is deterministic and compressible (~3:1): repeated text lines
with a counter and bytes from SHAKE-256, so the inflater works as on real data.
"""
import hashlib, io, json, os, sys, tarfile

SIZE = 1 << 30

def stream_tar(out):
    info = tarfile.TarInfo("data/big.bin")
    info.size = SIZE
    info.mtime = 0
    out.write(info.tobuf(format=tarfile.PAX_FORMAT))
    block = bytearray()
    n = 0
    i = 0
    while n < SIZE:
        line = b"%012d lorem ipsum dolor sit amet %s\n" % (i, hashlib.shake_256(b"%d" % (i // 7)).hexdigest(12).encode())
        i += 1
        block += line
        if len(block) >= 1 << 20:
            chunk = bytes(block[: SIZE - n])
            out.write(chunk)
            n += len(chunk)
            block.clear()
    out.write(b"\0" * ((512 - SIZE % 512) % 512))
    out.write(b"\0" * 1024)
    out.flush()

def write_layout(d, blob):
    size = os.path.getsize(blob)
    h = hashlib.sha256()
    with open(blob, "rb") as f:
        for c in iter(lambda: f.read(1 << 20), b""):
            h.update(c)
    ld = "sha256:" + h.hexdigest()
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    def put(b):
        dg = hashlib.sha256(b).hexdigest()
        with open(os.path.join(d, "blobs", "sha256", dg), "wb") as f:
            f.write(b)
        return "sha256:" + dg
    lp = os.path.join(d, "blobs", "sha256", ld[7:])
    if not os.path.exists(lp):
        os.link(blob, lp)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}, separators=(",", ":")).encode()
    cd = put(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": size}]}, separators=(",", ":")).encode()
    md = put(man)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(man),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--layout":
        write_layout(sys.argv[2], sys.argv[3])
    else:
        stream_tar(sys.stdout.buffer)
