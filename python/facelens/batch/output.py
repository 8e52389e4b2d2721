"""The results file: one JSON line per image, appended whole and flushed, so that a run killed at any moment
leaves complete lines plus at most one partial last line.

Opening a file that exists resumes it: a partial last line (the line being written when the run died) is cut off,
and the sources of the complete lines are the ones a rerun skips.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Set, Union

from ..response import json_default


class ResultsFileError(ValueError):
    """A results file that is not one this batch wrote (resuming over it would mix unrelated lines)."""


def encode(line: Dict[str, Any]) -> bytes:
    """One result as one line of JSON (ASCII, so no byte of it is ever a newline but the last)."""
    return (json.dumps(line, separators=(",", ":"), default=json_default) + "\n").encode("ascii")


class ResultsFile:
    """Appends result lines to ``path``; ``done`` holds the sources it already had when opened."""

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        self.path = Path(path)
        self.done: Set[str] = set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # noqa: SIM115 (held open for the run, closed by close())
        except OSError as e:
            raise ResultsFileError(f"cannot write the results file {self.path}: {e.strerror}") from None
        try:
            self._resume()
        except BaseException:
            self._file.close()
            raise

    def _resume(self) -> None:
        self._file.seek(0)
        data = self._file.read()
        end = data.rfind(b"\n") + 1  # everything after the last newline is a line cut short by a kill
        if end < len(data):
            self._file.truncate(end)
        for number, raw in enumerate(data[:end].splitlines(), 1):
            try:
                line = json.loads(raw)
                source = line["Source"]
            except (ValueError, KeyError, TypeError):
                raise ResultsFileError(f"{self.path} line {number} is not a batch result line; give another "
                                       "--out (resuming appends to this file)") from None
            self.done.add(source)
        self._file.seek(0, os.SEEK_END)

    def write(self, line: Dict[str, Any]) -> None:
        self._file.write(encode(line))
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
