"""Streaming reads of large JSON files (COCO's 448 MB train2017 annotations) with ijson, in bounded memory.

ijson's C backend (``yajl2_c``) is used when available. Numbers come back as ``int``/``float`` (as from the
``json`` module), so values re-serialize exactly like a whole-file load would.
"""
import os

import ijson

from localstyle.utils.errors import LocalstyleError


def _invalid(path, error):
    return LocalstyleError(f"{path}: invalid JSON ({type(error).__name__}: {error})")


_KINDS = {"start_array": "list", "start_map": "dict", "string": "str", "boolean": "bool", "null": "NoneType"}


def read_top_level(path, skip):
    """The top-level object of the JSON file ``path`` as a dict in file order, with the value of key ``skip``
    replaced by the name of its type (``"list"``, ``"dict"``, ...): it is never built (read it with
    :func:`iter_items`)."""
    path = os.fspath(path)
    values, key, builder = {}, None, None
    try:
        with open(path, "rb") as f:
            for prefix, event, value in ijson.parse(f, use_float=True):
                if prefix:
                    if builder is not None:
                        builder.event(event, value)
                    elif key not in values:  # the first event of the skipped value
                        values[key] = _KINDS.get(event, type(value).__name__)
                elif event in ("map_key", "end_map"):
                    if builder is not None:
                        values[key] = builder.value
                    key = value
                    builder = ijson.ObjectBuilder() if event == "map_key" and key != skip else None
                elif event != "start_map":
                    kind = _KINDS.get(event, type(value).__name__)
                    raise LocalstyleError(f"{path}: the top level is a {kind}, not an object")
    except FileNotFoundError:
        raise LocalstyleError(f"{path}: not found") from None
    except ijson.JSONError as e:
        raise _invalid(path, e) from None
    return values


def iter_items(path, key):
    """Yield the elements of the top-level array ``key`` of the JSON file ``path`` one by one."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            yield from ijson.items(f, f"{key}.item", use_float=True)
    except ijson.JSONError as e:
        raise _invalid(path, e) from None
