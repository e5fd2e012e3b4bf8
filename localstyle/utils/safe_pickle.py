"""Reading weights files without running code from them.

detectron2's model-zoo ``.pkl`` files hold (nested) dicts of numpy arrays plus a few strings and numbers.
:func:`load_safe_pickle` unpickles only that: numpy arrays, dtypes and scalars, plain containers, numbers and
strings. Any other global (``os.system``, ``builtins.eval``, a class) is refused before it is looked up, so a
crafted file cannot run its payload. :func:`load_weights_file` reads ``.pkl`` files that way and others with
``torch.load(weights_only=True)``.
"""
import os
import pickle
import re

from localstyle.utils.errors import LocalstyleError

# (module, name) pairs a zoo .pkl may reference; everything else (numbers, str, bytes, list, tuple, dict,
# set) is built by pickle opcodes that call no global.
SAFE_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # bytes written with protocol 2 by Python 3
})


class ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle references a global outside :data:`SAFE_GLOBALS`; ``.name`` is ``module.name``."""

    def __init__(self, name):
        super().__init__(f"forbidden global {name}")
        self.name = name


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise ForbiddenGlobal(f"{module}.{name}")


def load_safe_pickle(file, encoding="latin1"):
    """Unpickle ``file`` (a path or a binary file object) allowing only weight-file types.

    Raises :class:`ForbiddenGlobal` on any other global and ``pickle.UnpicklingError`` on a corrupt stream.
    """
    if isinstance(file, (str, bytes)) or hasattr(file, "__fspath__"):
        with open(file, "rb") as f:
            return _RestrictedUnpickler(f, encoding=encoding).load()
    return _RestrictedUnpickler(file, encoding=encoding).load()


def load_weights_file(path, trusted=False, label="", trust_key=None):
    """The object stored in the weights file ``path``; nothing in it runs unless ``trusted``.

    Refused or unreadable files raise a one-line :class:`LocalstyleError` that starts with ``label`` + ``path``;
    a refusal names ``trust_key``, the config key that opts in to full unpickling, if there is one.
    """
    import torch

    path = os.fspath(path)
    try:
        if trusted:
            if path.endswith(".pkl"):
                with open(path, "rb") as f:
                    return pickle.load(f, encoding="latin1")
            return torch.load(path, map_location="cpu", weights_only=False)
        if path.endswith(".pkl"):
            return load_safe_pickle(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except ForbiddenGlobal as e:
        forbidden = e.name
    except Exception as e:  # noqa: BLE001 - garbage bytes make the unpicklers fail in any way
        found = re.search(r"GLOBAL (\S+)", str(e)) if isinstance(e, pickle.UnpicklingError) else None
        if not found:
            text = str(e).strip()
            reason = f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__
            raise LocalstyleError(f"{label}{path}: cannot read checkpoint ({reason})") from None
        forbidden = found.group(1)
    opt_in = f"; if you trust this file, set {trust_key} True" if trust_key else ""
    raise LocalstyleError(f"{label}{path}: refused: it references the global {forbidden}, which a weights file "
                          f"does not need and could run code{opt_in}")
