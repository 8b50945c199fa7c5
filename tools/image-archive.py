#!/usr/bin/env python3
"""Names the images of a container image archive, for tools/base-image.sh.

    image-archive.py FILE

Prints one line per image name: `FORMAT COMPRESSION IMAGE NAME`, IMAGE the image's index in
the archive (from 0), FORMAT `docker` (a docker-archive:
manifest.json's RepoTags) or `oci` (an OCI image layout: index.json's
io.containerd.image.name, else org.opencontainers.image.ref.name, as cirun's registry import
reads them), COMPRESSION the filter around the whole tar (none, gzip, bzip2, xz, zstd). An
image without a name prints `-` as its NAME. Exit 2 when FILE is not an image archive, with
the reason on stderr.

Read with tarfile and json, never by pattern: the same file may list its members in any
order, and a name is whatever the JSON says, escapes and all.
"""
import json
import subprocess
import sys
import tarfile

MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
         (b"\x28\xb5\x2f\xfd", "zstd")]
CAP = 4 << 20  # manifest.json / index.json: a few KiB in practice


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)


def compression(path):
    with open(path, "rb") as f:
        head = f.read(8)
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return "none"


def read_members(path, comp, wanted):
    """The wanted top-level JSON files of the tar, streamed once (no seeking: big archives)."""
    found = {}
    proc = None
    if comp == "zstd":
        proc = subprocess.Popen(["zstd", "-dc", "--", path], stdout=subprocess.PIPE)
        tf = tarfile.open(fileobj=proc.stdout, mode="r|")
    else:
        tf = tarfile.open(path, mode="r|*")
    try:
        for m in tf:
            name = m.name[2:] if m.name.startswith("./") else m.name
            if name in wanted and m.isfile():
                if m.size > CAP:
                    fail(f"{path}: {name} is {m.size} bytes, more than an image index has")
                found[name] = tf.extractfile(m).read()
    except (tarfile.TarError, EOFError, OSError) as e:
        fail(f"{path}: not a readable tar archive ({e})")
    finally:
        tf.close()
        if proc:
            proc.stdout.close()
            proc.wait()
    return found


def names(path):
    comp = compression(path)
    found = read_members(path, comp, {"manifest.json", "index.json", "oci-layout"})
    try:
        if "index.json" in found and "oci-layout" in found:
            index = json.loads(found["index.json"])
            out = []
            for i, d in enumerate(index.get("manifests") or []):
                ann = d.get("annotations") or {}
                out.append((i, ann.get("io.containerd.image.name") or
                            ann.get("org.opencontainers.image.ref.name") or "-"))
            return "oci", comp, out
        if "manifest.json" in found:
            out = []
            for i, entry in enumerate(json.loads(found["manifest.json"])):
                out.extend((i, n) for n in entry.get("RepoTags") or ["-"])
            return "docker", comp, out
    except (ValueError, AttributeError, TypeError) as e:
        fail(f"{path}: its image index is not the JSON of an image archive ({e})")
    fail(f"{path}: neither a docker-archive (manifest.json) nor an OCI image layout "
         "(oci-layout, index.json)")


def main():
    if len(sys.argv) != 2:
        fail("usage: image-archive.py FILE")
    fmt, comp, out = names(sys.argv[1])
    if not out:
        fail(f"{sys.argv[1]}: an image archive holding no image")
    for i, n in out:
        # printed to a terminal and handed to skopeo: no space, no control character
        if not isinstance(n, str) or not n or not n.isprintable() or any(c.isspace() for c in n):
            fail(f"{sys.argv[1]}: image name {n!r} is not a name")
        print(fmt, comp, i, n)


if __name__ == "__main__":
    main()
