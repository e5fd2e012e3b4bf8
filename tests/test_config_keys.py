"""Every key of get_cfg() is either read by the code or refused (with one line naming it) at a non-default value."""
import ast
import functools
import glob
import os

import pytest
import yaml

from engine_helpers import REPO
from localstyle.config import get_cfg, load_config
from localstyle.config.unsupported import UNSUPPORTED, iter_leaves
from localstyle.utils.errors import LocalstyleError


def _chain(node):
    """``a.b.C`` -> ["a", "b", "C"] (None unless it starts with a name)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id] + parts[::-1] if isinstance(node, ast.Name) else None


def _split(parts):
    """(base, key parts): the leading lower-case names and the run of UPPER_CASE config names after them."""
    for i, p in enumerate(parts):
        if p.isupper():
            tail = []
            for q in parts[i:]:
                if not q.isupper():
                    break
                tail.append(q)
            return ".".join(parts[:i]), tail
    return ".".join(parts), []


def _keys_read_in(scope, found):
    """Add to ``found`` the dotted config keys read in a function/module, following aliases such as
    ``h = cfg.MODEL.ROI_HEADS`` ... ``h.NUM_CLASSES``."""
    aliases = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and \
                    isinstance(node.value, ast.Tuple) else [(target, node.value)]
                for t, v in pairs:
                    tc, vc = _chain(t), _chain(v)
                    if tc and vc and _split(vc)[1] and not _split(tc)[1]:
                        aliases.setdefault(".".join(tc), []).append(_split(vc)[1])
    for node in ast.walk(scope):
        parts = _chain(node) if isinstance(node, ast.Attribute) else None
        base, tail = _split(parts) if parts else ("", [])
        if tail:
            found.add(".".join(tail))
            found.update(".".join(prefix + tail) for prefix in aliases.get(base, []))


@functools.lru_cache(maxsize=1)
def keys_read_by_code():
    found = set()
    for path in glob.glob(os.path.join(REPO, "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, REPO)
        if rel.startswith(("tests", ".venv", "output")) or rel == os.path.join("localstyle", "config", "defaults.py"):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for scope in ast.walk(tree):
            if isinstance(scope, (ast.Module, ast.FunctionDef)):
                _keys_read_in(scope, found)
    return frozenset(found)


def _refused(key):
    return any(key == u.key or key.startswith(u.key + ".") for u in UNSUPPORTED)


def _non_default(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return list(value)[:-1] if len(value) > 1 else list(value) * 2 or ["x"]


def test_scanner_follows_aliases():
    read = keys_read_by_code()
    # read as h.NUM_CLASSES after h = cfg.MODEL.ROI_HEADS; as s.GAMMA after s = cfg.SOLVER
    assert {"MODEL.ROI_HEADS.NUM_CLASSES", "SOLVER.GAMMA", "TEST.AUG.MIN_SIZES", "SOLVER.BEST_CHECKPOINT.MODE"} <= read
    assert "MODEL.RETINANET.NUM_CLASSES" not in read


def test_every_key_is_read_or_refused():
    read = keys_read_by_code()
    ignored = [k for k, _ in iter_leaves(get_cfg()) if k not in read and not _refused(k)]
    assert not ignored, f"config keys neither read nor listed in localstyle/config/unsupported.py: {ignored}"
    leaves = {k for k, _ in iter_leaves(get_cfg())}
    for entry in UNSUPPORTED:
        assert entry.key in leaves or any(k.startswith(entry.key + ".") for k in leaves), entry.key


def test_refused_keys_fail_with_one_line_at_non_default_values():
    refused = [(k, v) for k, v in iter_leaves(get_cfg()) if _refused(k)]
    assert len(refused) > 40
    for key, default in refused:
        with pytest.raises(LocalstyleError) as err:
            load_config(None, [key, repr(_non_default(default))])
        message = str(err.value)
        assert "\n" not in message and f"config key {key} = " in message and "is not supported" in message, message
    load_config(None, [refused[0][0], repr(refused[0][1])])  # the default value itself is accepted


def test_refused_key_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "retina.yaml"
    path.write_text(yaml.safe_dump({"_BASE_": os.path.join(REPO, "configs", "Base-RCNN-FPN.yaml"),
                                    "MODEL": {"RETINANET": {"NUM_CLASSES": 3}}}))
    with pytest.raises(LocalstyleError, match=rf"^{path}: config key MODEL.RETINANET.NUM_CLASSES = 3 .*RetinaNet"):
        load_config(str(path))


def test_shipped_and_detectron2_configs_still_load():
    files = glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True) + \
        glob.glob(os.path.join(REPO, "tests", "detectron2_configs", "**", "*.yaml"), recursive=True)
    assert len(files) > 5
    for path in files:
        load_config(path)
