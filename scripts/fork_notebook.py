"""Forks a notebook to test a new hypothesis:

    npm run fork -- rq4-final-layer-bn my-hypothesis

copies notebooks/rq4-final-layer-bn.ipynb to notebooks/my-hypothesis.ipynb
without outputs, with fresh metadata (where it came from, when) and a first
cell for the hypothesis. Its findings report under the new name, the report
gives it a page of its own, and because runs are keyed by their config, it
trains only the runs whose parameters you change.
"""
import re
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: npm run fork -- SOURCE NEW-NAME   (e.g. npm run fork -- rq4-final-layer-bn my-hypothesis)")
    source_name, new_name = (a.removesuffix(".ipynb") for a in argv)
    source = NOTEBOOKS / f"{source_name}.ipynb"
    target = NOTEBOOKS / f"{new_name}.ipynb"
    if not source.exists():
        names = ", ".join(sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
        sys.exit(f"fork: no notebook {source.relative_to(ROOT)}; the notebooks are: {names}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", new_name):
        sys.exit(f"fork: the new name must be lower-case letters, digits and dashes (it names the notebook, its report page and its findings), got {new_name!r}")
    if target.exists():
        sys.exit(f"fork: {target.relative_to(ROOT)} exists already; choose another name")
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell["id"] = uuid.uuid4().hex[:8]  # fresh ids: the fork is a new document
    nb.metadata.pop("bnlab", None)
    nb.metadata["bnlab_fork"] = {"from": source_name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(
        f"# Fork of `{source_name}`: {new_name}\n\n"
        "**Hypothesis.** *State what you expect to change and why.*\n\n"
        "**Change.** *Edit the parameters cell below; runs whose config is unchanged come from the run store.*"))
    nbformat.validate(nb)
    nbformat.write(nb, target)
    print(f"forked {source.relative_to(ROOT)} -> {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
