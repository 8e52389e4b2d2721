"""The command line in a child process, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Mapping, Optional


def run_cli(home, *argv: Any, ok: bool = True, env: Optional[Mapping[str, str]] = None):
    """``python -m facelens --home HOME ARGV...`` in a new process: its parsed JSON output (``ok``), or the
    finished process (to check a failure)."""
    out = subprocess.run([sys.executable, "-m", "facelens", "--home", str(home), *map(str, argv)],
                         capture_output=True, text=True, timeout=300, env=env)
    if ok:
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    return out
