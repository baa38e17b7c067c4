"""Imports sit at the top of modules (issue 21, item 9). One stays inside a function only to keep an
entry point quick or a module free of a heavy library, and then a comment on its line, or the line
above, says which. The command-line verbs (heartbeat/commands/, cli.py) import inside each verb by
design: ``heartbeat --help`` loads none of them."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "heartbeat"
VERBS = {SRC / "cli.py", *SRC.glob("commands/*.py")}


def local_imports(path: Path):
    lines = path.read_text().splitlines()
    seen = set()
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno not in seen:
                    seen.add(node.lineno)
                    yield node.lineno, lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""


def test_every_import_inside_a_function_says_why():
    bare = [f"{path.relative_to(SRC.parent)}:{n}: {line.strip()}"
            for path in sorted(SRC.rglob("*.py")) if path not in VERBS
            for n, line, above in local_imports(path)
            if "#" not in line and not above.strip().startswith("#")]
    assert not bare, "imports inside functions with no reason given:\n" + "\n".join(bare)


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_the_help_and_the_report_load_no_heavy_library():
    code = ("import sys; import heartbeat.cli, heartbeat.report.tables, heartbeat.inference.modelinfo, heartbeat.choices; "
            "print(' '.join(m for m in ('torch', 'ray', 'mlflow', 'optuna', 'wfdb') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"loaded: {proc.stdout.strip()}"
