"""Removes outputs and execution counts from notebooks, so what git keeps is
the notebook's text and its diffs stay readable; the executed copies live in
report/build/notebooks. Usage: .venv/bin/python scripts/strip_notebooks.py [NOTEBOOK ...]
(default: notebooks/*.ipynb). Prints the notebooks it changed."""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb"))
for path in paths:
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs = []
            cell.execution_count = None
            changed = True
        if "execution" in cell.get("metadata", {}):
            del cell.metadata["execution"]
            changed = True
    if "bnlab" in nb.metadata:
        del nb.metadata["bnlab"]
        changed = True
    if changed:
        nbformat.write(nb, path)
        print(f"stripped {path}")
