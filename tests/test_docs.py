"""README.md and docs/*.md say only what is real: every fenced shell command (```bash, ```sh, ```console) names a
script that exists, whose own argparse accepts its flags, whose trailing ``KEY VALUE`` pairs are keys of the config
it names, and whose repository files exist (or are git-ignored outputs, e.g. ``output/``); `make` targets exist;
every relative link and image resolves (anchors included); ``--help`` commands run for real, fast, and no script
imports torch before it has parsed its arguments."""
import ast
import contextlib
import glob
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
import time

import pytest

from localstyle.config import load_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))
SHELLS = ("bash", "sh", "console", "shell")
PYTHONS = ("python", "python3", ".venv/bin/python")
REPO_DIRS = ("assets", "benchmarks", "configs", "datasets", "docs", "exported", "localstyle", "output", "reports",
             "tests", "tools")
SCRIPTS = ["train_net.py", "stylize_net.py", "train_style_net.py"] + sorted(
    os.path.relpath(p, REPO) for d in ("tools", "benchmarks", "datasets")
    for p in glob.glob(os.path.join(REPO, d, "*.py")))


def _blocks(text):
    """``(language, first line number, lines)`` of every fenced code block."""
    block, lang, start = None, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and block is None:
            block, lang, start = [], fence.group(1).lower(), number + 1
        elif fence:
            yield lang, start, block
            block = None
        elif block is not None:
            block.append(line)


def _commands(page):
    """``(where, argv)`` of every shell command in ``page``: continuation lines joined, comments dropped, ``&&``/``;``
    chains split; console blocks contribute only their ``$ `` lines."""
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        text = f.read()
    for lang, start, lines in _blocks(text):
        if lang not in SHELLS:
            continue
        pending, first = "", None
        for number, line in enumerate(lines, start):
            if lang == "console" and not pending:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            first = first or number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            words = shlex.split(pending + line, comments=True)
            pending = ""
            chain = []
            for word in words + [";"]:
                if word in (";", "&&", "||", "|"):
                    if chain:
                        yield f"{page}:{first}", chain
                    chain = []
                else:
                    chain.append(word)
            first = None


ALL_COMMANDS = [c for page in PAGES for c in _commands(page)]


def _ignored(path):
    """Whether ``path`` (relative to the repository) is under a git-ignored folder of .gitignore (an output)."""
    with open(os.path.join(REPO, ".gitignore"), encoding="utf-8") as f:
        patterns = [p.strip() for p in f if p.strip() and not p.startswith("#")]
    for pattern in patterns:
        if pattern.startswith("/"):
            anchored = pattern.strip("/")
            if path == anchored or path.startswith(anchored + "/"):
                return True
    return False


def _check_path(word):
    """A problem with a repository path named on a command line, or None."""
    path = os.path.normpath(word)
    if "$" in word or not (path.split(os.sep)[0] in REPO_DIRS or re.fullmatch(r"[\w.-]+\.(py|yaml|sh)", path)):
        return None
    if glob.has_magic(path):
        return None if glob.glob(os.path.join(REPO, path)) else f"{word}: the pattern matches no file"
    if os.path.exists(os.path.join(REPO, path)) or _ignored(path):
        return None
    return f"{word}: no such file in the repository (and not a git-ignored output)"


def _python_script(argv):
    """``(script, its arguments)`` for a command that runs a repository script with Python, else None."""
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):  # VAR=value prefixes
        argv = argv[1:]
    if argv[:1] == ["flock"]:
        argv = argv[2:]
    if argv[:1] == ["torchrun"]:
        argv = argv[next(i for i, w in enumerate(argv) if w.endswith(".py")):]
        return argv[0], argv[1:]
    if argv[:1] and argv[0] in PYTHONS and len(argv) > 1 and argv[1].endswith(".py"):
        return argv[1], argv[2:]
    return None


def _load_script(script):
    """Import a repository script as a module (its folder on sys.path, as when it runs)."""
    folder = os.path.dirname(os.path.join(REPO, script))
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location("doc_" + re.sub(r"\W", "_", script), os.path.join(REPO, script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _parse(module, args):
    """The script's own parsing of ``args`` (its ``parse_args`` when it has one, else ``build_parser()``)."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            if hasattr(module, "parse_args"):
                return module.parse_args(args), None
            return module.build_parser().parse_args(args), None
        except SystemExit:
            return None, stderr.getvalue().strip().splitlines()[-1]


def _makefile_targets():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        return set(re.findall(r"^([\w.-]+):", f.read(), re.M))


@pytest.mark.parametrize("where,argv", ALL_COMMANDS, ids=[f"{w} {' '.join(a)[:60]}" for w, a in ALL_COMMANDS])
def test_command_is_real(where, argv):
    if argv[0] == "make":
        missing = set(argv[1:]) - _makefile_targets()
        assert not missing, f"{where}: make target(s) {sorted(missing)} not in the Makefile"
        return
    if argv[:1] == ["bash"] and argv[1].endswith(".sh"):
        assert os.path.isfile(os.path.join(REPO, argv[1])), f"{where}: {argv[1]} does not exist"
        return
    found = _python_script(argv)
    if found is None:  # apt-get, pip, source, tensorboard, for/done: not ours to check
        return
    script, args = found
    assert os.path.isfile(os.path.join(REPO, script)), f"{where}: {script} does not exist"
    if "--help" in args or "-h" in args:
        return  # run for real in test_help_commands_run
    module = _load_script(script)
    assert hasattr(module, "build_parser"), f"{where}: {script} has no build_parser() to check its flags with"
    namespace, error = _parse(module, args)
    assert namespace is not None, f"{where}: {script} rejects its arguments: {error}"
    problems = [p for p in map(_check_path, args) if p]
    assert not problems, f"{where}: " + "; ".join(problems)
    opts = list(getattr(namespace, "opts", []) or [])
    config = getattr(namespace, "config_file", None) or ""
    if "$" in config or "$" in " ".join(opts) or (config and not os.path.isfile(os.path.join(REPO, config))):
        return  # a shell variable or a generated config (an output, checked above)
    if config or opts:
        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            load_config(config, opts)
        except Exception as e:  # noqa: BLE001 -- any config error is the finding
            pytest.fail(f"{where}: {config or 'defaults'} + {opts}: {e}")
        finally:
            os.chdir(cwd)


def test_help_commands_run():
    """Every documented ``--help`` command runs (exit 0)."""
    helps = [(w, a) for w, a in ALL_COMMANDS if ("--help" in a or "-h" in a) and _python_script(a)]
    for where, argv in helps:
        script, args = _python_script(argv)
        proc = subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{where}: {' '.join(argv)}: {proc.stderr[-300:]}"


def _anchors(page):
    """GitHub's heading anchors of a markdown file."""
    with open(page, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES)
def test_links_resolve(page):
    with open(os.path.join(REPO, page), encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(REPO, os.path.dirname(page), path)) if path else \
            os.path.join(REPO, page)
        if not os.path.exists(resolved):
            problems.append(f"{target}: no such file")
        elif anchor and resolved.endswith(".md") and anchor not in _anchors(resolved):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    assert not problems, f"{page}: " + "; ".join(problems)


def test_no_script_imports_torch_before_parsing():
    """``--help`` of every script stays fast: torch (1-2 s to import, far more on a busy machine) is imported only
    after the arguments are parsed. One interpreter runs every script's ``--help`` and names the first that does."""
    code = ("import runpy, sys\n"
            "for script in sys.argv[1:]:\n"
            "    sys.argv = [script, '--help']\n"
            "    sys.path.insert(0, __import__('os').path.dirname(script))\n"
            "    try:\n"
            "        runpy.run_path(script, run_name='__main__')\n"
            "    except SystemExit:\n"
            "        pass\n"
            "    if 'torch' in sys.modules:\n"
            "        print('IMPORTS_TORCH', script)\n"
            "        break\n")
    proc = subprocess.run([sys.executable, "-c", code, *SCRIPTS], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert "IMPORTS_TORCH" not in proc.stdout, proc.stdout.splitlines()[-1] + " imports torch before parsing"


@pytest.mark.parametrize("script", ["train_net.py", "tools/ap_report.py"])
def test_help_is_fast(script):
    """--help in a fresh interpreter: 2 s is the target on an idle machine; the bound is generous for busy ones."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0 and "usage:" in proc.stdout
    assert elapsed < 10, f"{script} --help took {elapsed:.1f} s"


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_keeps_line_continuations(script):
    """A help example continued with a backslash keeps it: in a plain (not raw) docstring a single backslash at the
    end of a line joins the lines and vanishes, so it must be written twice."""
    with open(os.path.join(REPO, script), encoding="utf-8") as f:
        source = f.read()
    doc = ast.parse(source).body[0]
    if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)):
        return
    lines = source.splitlines()[doc.lineno - 1:doc.end_lineno]
    if lines[0].lstrip()[:1].lower() == "r":
        return
    eaten = [line for line in lines if (len(line) - len(line.rstrip("\\"))) % 2]
    assert not eaten, f"{script}: these help lines lose their continuation backslash: {eaten}"
