"""The client as a merchant installs it: ``pip install ./clients/python`` gives a typed package
depending only on httpx and pydantic, written for Python 3.9 and later."""

from __future__ import annotations

import ast
import email
import os
import subprocess
import sys
from pathlib import Path

from payments_admin.stack import ROOT

CLIENT = ROOT / "clients" / "python"
SOURCES = sorted((CLIENT / "src" / "payments_client").glob("*.py"))


def test_pip_installs_the_package_with_its_typing_marker_and_two_dependencies(
    tmp_path: Path,
) -> None:
    target = tmp_path / "site"
    # No network: the dependencies are the dev venv's, the build backend too.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(CLIENT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "payments_client" / "py.typed").exists()
    installed = {p.name for p in (target / "payments_client").glob("*.py")}
    assert installed == {p.name for p in SOURCES}
    (dist_info,) = target.glob("payments_client-*.dist-info")
    metadata = email.message_from_string((dist_info / "METADATA").read_text())
    assert metadata["Name"] == "payments-client"
    assert metadata["Requires-Python"] == ">=3.9"
    requires = sorted(r.split(">")[0].split("<")[0] for r in metadata.get_all("Requires-Dist"))
    assert requires == ["httpx", "pydantic"]
    # The installed copy imports (and is the one imported), with the interface of the guide.
    probe = (
        "import payments_client as p; print(p.__file__); "
        "from payments_client import Client, AsyncClient, CardError, InvalidRequestError, "
        "RateLimitError; p.webhooks.construct_event"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(target)},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip().startswith(str(target))


def _annotations(tree: ast.AST) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            arguments += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
            found += [a.annotation for a in arguments if a.annotation is not None]
            if node.returns is not None:
                found.append(node.returns)
    return found


def test_the_sources_are_python_3_9() -> None:
    """3.9's grammar, and no ``X | Y`` in annotations: pydantic evaluates the models' at run
    time, where 3.9 cannot (``from __future__ import annotations`` does not help there)."""
    for path in SOURCES:
        source = path.read_text()
        tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
        for annotation in _annotations(tree):
            unions = [
                n
                for n in ast.walk(annotation)
                if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr)
            ]
            assert not unions, f"{path.name}:{annotation.lineno}: use Optional/Union"
