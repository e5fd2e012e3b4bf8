"""Package layout: registries fill on import, and the modules of localstyle import without cycles."""
import ast
import os
import subprocess
import sys

import localstyle

PACKAGE_DIR = os.path.dirname(localstyle.__file__)


def _modules():
    """``{module name: path}`` of every localstyle module."""
    out = {}
    for root, _, files in os.walk(PACKAGE_DIR):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, f), os.path.dirname(PACKAGE_DIR))[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(root, f)
    return out


def _imports(path, modules):
    """localstyle modules imported by the file at ``path`` (at module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in modules}
    return found


def test_no_import_cycles_between_modules():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    # a package's __init__ may import its own modules; a module importing its package's __init__ is the cycle
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open" and not m.startswith(n + "."):
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert len(modules) > 40 and not cycles, f"import cycles: {cycles}"


def test_every_module_imports_and_the_registries_build_every_method_and_source():
    """In a fresh interpreter: every module imports; every name the style and mask registries list resolves to a
    class registered under that name (built-in entries register when their module is imported on first use)."""
    names = sorted(_modules())
    code = ("import importlib, sys\n"
            "import localstyle.style, localstyle.masks\n"
            "for r in (localstyle.style.STYLE_METHOD_REGISTRY, localstyle.masks.MASK_SOURCE_REGISTRY):\n"
            "    print([n for n in r.names() if r.get(n) is dict(iter(r)).get(n)])\n"
            "for n in sys.argv[1:]:\n    importlib.import_module(n)\n"
            "print('imported', len(sys.argv) - 1)")
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    methods, sources, imported = proc.stdout.splitlines()
    assert methods == str(["arbitrary", "feedforward", "gatys"])
    assert sources == str(["annotations", "predictor", "predictor+semantic", "semantic"])
    assert imported == f"imported {len(names)}"


def test_backbone_registry_has_the_default_backbone():
    from localstyle.config import get_cfg
    from localstyle.modeling import BACKBONE_REGISTRY

    cfg = get_cfg()
    assert cfg.MODEL.BACKBONE.NAME in BACKBONE_REGISTRY
    assert "build_resnet_fpn_backbone" in BACKBONE_REGISTRY
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    from localstyle.modeling import build_backbone

    assert set(build_backbone(cfg).output_shape()) == set(cfg.MODEL.RESNETS.OUT_FEATURES)
