"""Content digests of files, for reruns that notice a file replaced under the same name."""
import hashlib
import os


def file_sha256(path):
    """sha256 (hex) of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class FileDigests:
    """sha256 of files, remembered with their size and modification time: a file whose size and mtime are those
    remembered is not read again (the fast path); otherwise it is hashed, so a file only touched keeps its digest
    while one replaced under the same name gets a new one. ``known`` (``{abspath: [size, mtime_ns, sha256]}``,
    JSON-ready) is updated in place, for the caller to store."""

    def __init__(self, known=None):
        self.known = known if known is not None else {}

    def __call__(self, path):
        path = os.path.abspath(path)
        st = os.stat(path)
        entry = self.known.get(path)
        if entry is not None and entry[:2] == [st.st_size, st.st_mtime_ns]:
            return entry[2]
        digest = file_sha256(path)
        self.known[path] = [st.st_size, st.st_mtime_ns, digest]
        return digest
