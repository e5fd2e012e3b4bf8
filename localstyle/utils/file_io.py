"""Writing files safely: atomic writes (complete or absent, never half-written), writable output folders, names
made safe as path components."""
import contextlib
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


@contextlib.contextmanager
def atomic_path(path):
    """A temporary file path next to ``path`` (same extension), for writers that take a file name; when the block
    ends without an exception the file gets the permissions a direct write would give (not ``mkstemp``'s 0600)
    and is renamed onto ``path``, otherwise it is removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{os.path.splitext(base)[1]}", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
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
        torch.save(obj, f)
