"""Execute ``notebooks/analysis.ipynb`` headless (nbclient) and keep it with its outputs.

```
python -m heartbeat.report.notebook [--notebook notebooks/analysis.ipynb] [--out PATH]
                                    [--results results] [--models models] [--data PATH]
```

The notebook reads its folders from environment variables (``HEARTBEAT_RESULTS``,
``HEARTBEAT_MODELS``, ``HEARTBEAT_FIGURES``, ``HEARTBEAT_DATA``),
defaulting to the project's ``results/``, ``models/``, ``results/figures/`` and the
usual data resolution; the options here set them for the kernel. By default the
executed notebook replaces the source, so the committed notebook shows its figures.
Cell timings are not recorded: running it twice on the same files changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from heartbeat.data.sources import project_root

ROOT = project_root()
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"


@contextmanager
def environment(values: dict[str, str | None]):
    """Set environment variables for the kernel (it inherits this process's environment), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(notebook: str | Path = NOTEBOOK, out: str | Path | None = None, results: str | Path | None = None,
            models: str | Path | None = None, figures: str | Path | None = None, data: str | Path | None = None,
            timeout: int = 900, kernel: str = "python3") -> Path:
    """Run every cell of ``notebook`` in a fresh kernel and write it, outputs included, to ``out``.

    A failing cell stops the run: the notebook is still written (with the error in its outputs)
    and the error is raised.
    """
    import nbformat  # Jupyter's runner: only to execute a notebook
    from nbclient import NotebookClient  # Jupyter's runner: only to execute a notebook
    from nbclient.exceptions import CellExecutionError  # Jupyter's runner: only to execute a notebook

    notebook = Path(notebook)
    out = Path(out) if out else notebook
    nb = nbformat.read(notebook, as_version=4)
    # the kernel runs in the notebook's folder: a relative $HEARTBEAT_DATA is resolved from here first
    data = data if data is not None else os.environ.get("HEARTBEAT_DATA") or None
    absolute = {"HEARTBEAT_RESULTS": results, "HEARTBEAT_MODELS": models, "HEARTBEAT_FIGURES": figures,
                "HEARTBEAT_DATA": data}
    env = {k: (str(Path(v).resolve()) if v is not None else None) for k, v in absolute.items()}
    # matplotlib stays headless (the notebook shows its figures as PNG); the kernel's BLAS threads stay few (searches may be running)
    env.update({"MPLBACKEND": "Agg", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, record_timing=False,
                            resources={"metadata": {"path": str(notebook.resolve().parent)}})
    with environment(env):
        try:
            client.execute()
        except CellExecutionError:
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, out)
            raise
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m heartbeat.report.notebook", description=__doc__.split("\n")[0])
    p.add_argument("--notebook", default=str(NOTEBOOK), help="notebook to run (default: notebooks/analysis.ipynb)")
    p.add_argument("--out", default=None, help="where to write the executed notebook (default: in place)")
    p.add_argument("--results", default=None, help="results folder (default: $HEARTBEAT_RESULTS, else results/)")
    p.add_argument("--models", default=None, help="models folder (default: $HEARTBEAT_MODELS, else models/)")
    p.add_argument("--figures", default=None, help="static figures folder (default: RESULTS/figures)")
    p.add_argument("--data", default=None, help="data for the data section and the confusion matrices "
                                                "(default: $HEARTBEAT_DATA, else data/, else the embedded sample)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell (default: 900)")
    args = p.parse_args(argv)
    from nbclient.exceptions import CellExecutionError  # Jupyter's runner: only to execute a notebook

    try:
        out = execute(args.notebook, args.out, args.results, args.models, args.figures, args.data, args.timeout)
    except CellExecutionError as exc:
        print(f"error: a cell failed; the notebook with its error is in {args.out or args.notebook}\n{exc}",
              file=sys.stderr)
        return 1
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
