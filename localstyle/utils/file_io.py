"""Writing files safely: atomic writes (complete or absent, never half-written), writable output folders, names
made safe as path components."""
import contextlib
import errno
import json
import os
import re
import tempfile

from localstyle.utils.errors import LocalstyleError


def _new_file_mode(path):
    """The mode a plain ``open(path, "w")`` would give: the existing file's, else 0666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


# errno values that mean "this location cannot take the file": a full disk or quota, a file over the size limit,
# a read-only or forbidden folder, a file where a folder should be, an I/O failure
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                          errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EIO})


class WriteError(LocalstyleError):
    """A file could not be written (full disk, read-only folder...): the run stops; files written before stay."""


def cannot_write(path, error):
    """The one-line :class:`WriteError` for ``error`` (an OSError) met writing ``path``."""
    return WriteError(f"{path}: cannot write ({error.strerror or error}); files written before are kept "
                      f"(free space or choose another folder, then rerun)")


@contextlib.contextmanager
def atomic_path(path):
    """A temporary file path next to ``path`` (same extension), for writers that take a file name; when the block
    ends without an exception the file gets the permissions a direct write would give (not ``mkstemp``'s 0600)
    and is renamed onto ``path``, otherwise it is removed. A write failure of the location (:data:`WRITE_ERRNOS`)
    becomes a one-line :class:`WriteError`; an earlier ``path`` is then left as it was."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{os.path.splitext(base)[1]}", dir=directory)
    except OSError as e:
        raise cannot_write(path, e) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS:
            raise cannot_write(path, e) from None
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open a temporary file next to ``path``; on success it is fsynced and renamed onto ``path``
    (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def cache_dir():
    """localstyle's cache folder (downloads, exported models): ``$LOCALSTYLE_CACHE`` or ``~/.cache/localstyle``."""
    return os.environ.get("LOCALSTYLE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "localstyle")


def ensure_writable_dir(path, what):
    """Create the folder ``path`` if needed and check that a file can be written in it, before any work is
    done; otherwise a one-line :class:`LocalstyleError` naming ``what`` (e.g. ``--output``)."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise LocalstyleError(f"{path}: {what} must be a folder, but it is a file")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise LocalstyleError(f"{path}: {what} folder cannot be written ({e.strerror or e})") from None
    return path


def safe_path_component(name):
    """``name`` (a dataset or run name) made safe as one path component inside an output folder:
    separators and other unusual characters become ``_`` and it never starts with a dot."""
    cleaned = re.sub(r"[^A-Za-z0-9_.+=@-]", "_", str(name))
    return "_" + cleaned[1:] if cleaned.startswith(".") else cleaned or "_"


def atomic_write_json(path, obj, **json_kwargs):
    """Write ``obj`` as JSON to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, **json_kwargs)


def atomic_torch_save(obj, path):
    """``torch.save`` to ``path`` atomically (used for checkpoints)."""
    import torch

    with atomic_open(path, "wb") as f:
        sink = _WriteRecorder(f)
        try:
            torch.save(obj, sink)
        except RuntimeError:
            if sink.error is None:
                raise
            raise sink.error from None  # torch reports a failed write as "unexpected pos ..."


class _WriteRecorder:
    """A file wrapper keeping the OSError of a failed ``write``, which torch.save turns into a RuntimeError."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data):
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self):
        return self.f.flush()
