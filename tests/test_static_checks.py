"""The static checks run with the tests: mypy on python/facelens (and on code that uses facelens the way callers
do), ``_core.pyi`` against the built extension (mypy's stubtest for the names, pybind11's docstring signatures for
the arguments), and ruff over the tree. All are configured in pyproject.toml; caches go to a temporary folder, so a
clean checkout runs them as well as a warm one."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Code written as a caller of facelens writes it: every line must type-check, and the revealed types show that the
# error classes are real types (a checker that saw Any would accept anything).
CALLER = '''
import facelens
from facelens import errors

client = facelens.Client()
try:
    client.detect_faces(Image={"Bytes": b""})
except client.exceptions.InvalidParameterException as e:
    reveal_type(e)
    code: str = e.response["Error"]["Code"]
except errors.ResourceNotFoundException as e:
    reveal_type(e)
except client.exceptions.ClientError as e:
    reveal_type(e)
except facelens.ClientError as e:
    print(e.operation_name)
reveal_type(client.exceptions.from_code("ThrottlingException"))
'''

# Mistakes the checker must catch: an error class that does not exist, a class used as a value of another type.
MISUSE = '''
import facelens

client = facelens.Client()
try:
    pass
except client.exceptions.NoSuchThingException:
    pass
count: int = client.exceptions.InvalidParameterException
'''


def _run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def check_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("static-check-cache")
    return {**os.environ, "MYPY_CACHE_DIR": str(cache / "mypy"), "RUFF_CACHE_DIR": str(cache / "ruff")}


@pytest.fixture(scope="module")
def mypy_report(check_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """mypy's messages per file, from one run over python/facelens and the two caller snippets."""
    snippets = tmp_path_factory.mktemp("mypy-snippets")
    (snippets / "caller.py").write_text(textwrap.dedent(CALLER))
    (snippets / "misuse.py").write_text(textwrap.dedent(MISUSE))
    result = _run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-error-summary",
                   "python/facelens", str(snippets / "caller.py"), str(snippets / "misuse.py")], check_env)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    report: dict[str, list[str]] = {"facelens": [], "caller": [], "misuse": [], "other": []}
    for line in result.stdout.splitlines():
        path = line.split(":", 1)[0]
        if path.startswith("python/facelens"):
            report["facelens"].append(line)
        elif path.endswith("caller.py"):
            report["caller"].append(line)
        elif path.endswith("misuse.py"):
            report["misuse"].append(line)
        else:
            report["other"].append(line)
    return report


def test_mypy_is_clean_on_the_package(mypy_report: dict[str, list[str]]) -> None:
    assert mypy_report["facelens"] == [], "\n".join(mypy_report["facelens"])
    assert mypy_report["other"] == [], "\n".join(mypy_report["other"])


def test_error_classes_are_types_for_callers(mypy_report: dict[str, list[str]]) -> None:
    lines = mypy_report["caller"]
    assert [line for line in lines if ": error:" in line] == [], "\n".join(lines)
    revealed = re.findall(r'Revealed type is "([^"]+)"', "\n".join(lines))
    assert revealed == [
        "facelens.errors.InvalidParameterException",
        "facelens.errors.ResourceNotFoundException",
        "facelens.errors.ClientError",
        "type[facelens.errors.ClientError]",
    ]


def test_mypy_catches_misused_error_classes(mypy_report: dict[str, list[str]]) -> None:
    errors = [line for line in mypy_report["misuse"] if ": error:" in line]
    assert any("NoSuchThingException" in line and "[attr-defined]" in line for line in errors), errors
    assert any("[assignment]" in line for line in errors), errors


def test_core_stub_matches_the_built_extension(check_env: dict[str, str]) -> None:
    """Every function, class, method and argument of facelens._core is in _core.pyi with the same signature."""
    result = _run([sys.executable, "-m", "mypy.stubtest", "facelens._core", "--mypy-config-file", "pyproject.toml",
                   "--allowlist", "tests/stubtest-allowlist.txt"], check_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean(check_env: dict[str, str]) -> None:
    result = _run([sys.executable, "-m", "ruff", "check", "--no-fix", "."], check_env)
    assert result.returncode == 0, result.stdout + result.stderr


def _stub_functions() -> dict[str, ast.FunctionDef]:
    """The stub's functions and methods (``Class.method``), properties left out."""
    tree = ast.parse((ROOT / "python" / "facelens" / "_core.pyi").read_text())
    out: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not any(
                        isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                    out[f"{node.name}.{item.name}"] = item
    return out


def _runtime_functions() -> dict[str, ast.FunctionDef]:
    """The extension's functions and methods, each as the signature pybind11 writes on its docstring's first line."""
    core = pytest.importorskip("facelens._core")
    found: dict[str, object] = {}
    for name, obj in vars(core).items():
        if name.startswith("_"):
            continue
        if isinstance(obj, type):
            for attr, member in vars(obj).items():
                if (attr == "__init__" or not attr.startswith("_")) and callable(member):
                    found[f"{name}.{attr}"] = member
        elif callable(obj):
            found[name] = obj
    out: dict[str, ast.FunctionDef] = {}
    for name, obj in found.items():
        first = (obj.__doc__ or "").splitlines()[0]
        fn = ast.parse(f"def {first}: ...").body[0]
        assert isinstance(fn, ast.FunctionDef), first
        out[name] = fn
    return out


def _arguments(fn: ast.FunctionDef) -> list[tuple[str, str, object]]:
    """(kind, name, default) of each argument but ``self``; default: its value when it is a literal, ``...`` when it
    is not, None when there is none."""
    args = fn.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    rows = [("positional", a.arg, d) for a, d in zip(positional, defaults)]
    rows += [("keyword", a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    out: list[tuple[str, str, object]] = []
    for kind, name, default in rows:
        if name == "self":
            continue
        if default is None:
            value: object = None
        else:
            try:
                value = ast.literal_eval(default)
            except ValueError:
                value = ...
        out.append((kind, name, value))
    return out


def test_core_stub_arguments_match_the_bindings() -> None:
    """stubtest cannot see pybind11's signatures; pybind11 writes them on each docstring: the stub must name the same
    arguments in the same order, with the same defaults."""
    stub, runtime = _stub_functions(), _runtime_functions()
    assert sorted(runtime) == sorted(stub)
    mismatched = {}
    for name, fn in runtime.items():
        want = _arguments(fn)
        have = _arguments(stub[name])
        # a stub default written as ``...`` stands for whatever the binding has
        have = [(k, n, want[i][2] if d is ... and i < len(want) else d) for i, (k, n, d) in enumerate(have)]
        if have != want:
            mismatched[name] = {"binding": want, "stub": have}
    assert mismatched == {}
