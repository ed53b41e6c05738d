"""Build the notebooks from their sources, and adopt executed copies.

  python notebooks/build.py            notebooks/src/NN_name.py -> notebooks/NN_name.ipynb
                                       (only where the cells changed; outputs are dropped)
  python notebooks/build.py --adopt D  copy executed notebooks from folder D (e.g.
                                       results/executed/quick) into notebooks/, without
                                       papermill's injected-parameters cell

Sources use jupytext's "percent" format (``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell, ``# %% tags=["parameters"]`` the papermill parameters cell), paired with the
notebooks by ``notebooks/jupytext.toml``: jupytext converts (``jupytext --sync
notebooks/NN_name.ipynb`` works as well); this script keeps the executed outputs of unchanged
cells and adopts executed copies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def convert(src: Path) -> nbformat.NotebookNode:
    """The notebook of a ``py:percent`` source, read by jupytext (the pairing of
    ``notebooks/jupytext.toml``), with this project's kernel."""
    nb = jupytext.read(src, fmt="py:percent")
    nb.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    return nb


def adopt(folder: Path) -> None:
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        for c in nb.cells:
            c.metadata.pop("papermill", None)
            c.metadata.pop("execution", None)
        nb.metadata.pop("papermill", None)
        nb.metadata["kernelspec"] = KERNEL
        nbformat.write(nb, HERE / path.name)
        print(f"adopted {path} -> notebooks/{path.name}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--adopt"]:
        adopt(Path(argv[1]))
        return 0
    for src in sorted((HERE / "src").glob("[0-9][0-9]_*.py")):
        nb = convert(src)
        out = HERE / f"{src.stem}.ipynb"
        if out.exists():
            old = nbformat.read(out, as_version=4)
            if [c.source for c in old.cells] == [c.source for c in nb.cells]:
                continue  # unchanged: keep the executed outputs
        nbformat.write(nb, out)
        print(f"built notebooks/{src.stem}.ipynb ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
