"""Running the same measurement against several checkouts (``--src`` folders) in one benchmark run: one place
for the child process's environment, its JSON result and the checkout's commit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def env_for(src: str) -> dict:
    """The environment of a child process that imports mipnet from the checkout's ``src`` folder."""
    return {**os.environ, "PYTHONPATH": str(Path(src).resolve())}


def commit_of(src: str) -> str:
    """The short commit of the checkout that holds ``src``."""
    return subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def probe(src: str, code: str, *args: str, check: bool = False) -> dict:
    """Run ``python -c code args`` against the checkout and return the JSON object on its last output line, with
    ``src`` and ``commit`` added; when the child fails, ``{"src", "error"}`` (or ``CalledProcessError`` with
    ``check``)."""
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=env_for(src), check=check)
    if proc.returncode != 0:
        return {"src": src, "error": proc.stderr[-800:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["src"], result["commit"] = src, commit_of(src)
    return result
