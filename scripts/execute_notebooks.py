"""Executes notebooks headless through the real tslab kernel (the project's
bnlab-tslab kernelspec in .venv), the way the report and the tests do.

    .venv/bin/python scripts/execute_notebooks.py [--profile smoke|quick|long|paper]
        [--out DIR] [--timeout SECONDS] [NOTEBOOK ...]

With no notebook named, every notebooks/*.ipynb runs. The profile reaches
the kernel as BNLAB_PROFILE (papermill has no TypeScript parameter
translator; the parameters cell reads the environment). Executed copies go
to --out (default report/build/notebooks), with the profile and wall time
in their metadata. A cell error names the notebook, the cell and the error,
and the command exits 1 after running the rest.
"""
import argparse
import json
import os
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def resolve(name):
    p = Path(name)
    if p.suffix != ".ipynb":
        p = p.with_suffix(".ipynb")
    if not p.exists():
        p = NOTEBOOKS / p.name
    if not p.exists():
        sys.exit(f"execute_notebooks: no notebook {name} (looked in {NOTEBOOKS})")
    return p.resolve()


def error_message(cell, exc):
    """What went wrong, in one line. tslab prints an exception (or a type
    error) on the cell's stderr and replies 'error' with no name or value, so
    the message is taken from the cell's stderr: the first line that names an
    error, else the last line printed."""
    if isinstance(exc, (CellTimeoutError, RuntimeError)):  # DeadKernelError, and a kernel that never started
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    text = "".join(o.get("text", "") for o in (cell or {}).get("outputs", []) if o.get("name") == "stderr")
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    named = [l for l in lines if re.match(r"^([A-Za-z_.]*(Error|Exception)\b|\d+:\d+ - )", l)]
    if named:
        return named[0]
    if lines:
        return lines[-1]
    ename, evalue = getattr(exc, "ename", ""), getattr(exc, "evalue", "")
    if ename and ename != "<Error>":
        return f"{ename}: {evalue}"
    return "the kernel reported an error without a message (see the cell's outputs)"


STARTUP_TRIES = 3


def execute(nb, path, timeout, startup_timeout):
    """Runs nb in a fresh kernel.

    tslab's kernel can miss nbclient's first kernel_info request while its
    ZeroMQ sockets are still binding ("Socket is blocked by a bind or unbind
    operation") and then never answer, so nbclient gives up before any cell
    ran ("Kernel didn't respond"). That, and only that, is retried with a new
    kernel, up to STARTUP_TRIES times: a failure once a cell has started is
    the notebook's own and is raised as is.
    """
    for attempt in range(1, STARTUP_TRIES + 1):
        client = NotebookClient(nb, kernel_name="bnlab-tslab", timeout=timeout, startup_timeout=startup_timeout,
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
            return
        except RuntimeError as e:
            started = any(c.cell_type == "code" and c.get("execution_count") is not None for c in nb.cells)
            if started or "didn't respond" not in str(e) or attempt == STARTUP_TRIES:
                raise
            print(f"[notebooks] {path.stem}: the kernel did not start ({e}); trying a new one", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--profile", default=os.environ.get("BNLAB_PROFILE", "quick"), choices=["smoke", "quick", "long", "paper"])
    ap.add_argument("--out", default=str(ROOT / "report" / "build" / "notebooks"))
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--startup-timeout", type=int, default=60, help="seconds for a kernel to start")
    args = ap.parse_args()

    paths = [resolve(n) for n in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    if not paths:
        sys.exit(f"execute_notebooks: no notebooks in {NOTEBOOKS}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["BNLAB_PROFILE"] = args.profile
    failures = []
    summary = []
    for i, path in enumerate(paths, 1):
        nb = nbformat.read(path, as_version=4)
        print(f"[notebooks] {i}/{len(paths)} {path.stem} (profile {args.profile}) ...", file=sys.stderr, flush=True)
        t0 = time.time()
        os.environ["BNLAB_NOTEBOOK"] = path.stem  # the kernel inherits it: findings name their notebook
        error = None
        try:
            execute(nb, path, args.timeout, args.startup_timeout)
        except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as e:
            # The failing cell is the last one that started: its execution count is set.
            started = [k for k, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count") is not None]
            cell = started[-1] if started else None
            what = error_message(nb.cells[cell] if cell is not None else None, e)
            error = f"{path.name}, cell {cell if cell is not None else '?'}: {what}"
            failures.append(error)
        seconds = round(time.time() - t0, 1)
        nb.metadata["bnlab"] = {
            "profile": args.profile,
            "seconds": seconds,
            "executedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
            "error": error,
        }
        target = out / path.name
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
        summary.append({"notebook": path.stem, "seconds": seconds, "ok": error is None})
        print(f"[notebooks] {path.stem}: {'ok' if error is None else 'FAILED'} in {seconds} s", file=sys.stderr, flush=True)
    print(json.dumps({"profile": args.profile, "out": str(out), "notebooks": summary}))
    if failures:
        for f in failures:
            print(f"[notebooks] error in {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
