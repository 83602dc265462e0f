"""Where the command line reads from and writes to: inputs expanded, outputs planned, files
written atomically (a temporary file beside the destination, renamed into place when
complete), so a failed or interrupted run never leaves half a file under the real name.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = {"json": ".json", "xml": ".xml"}


class UsageError(Exception):
    """The command line asks for something impossible; exit code 2."""


class AtomicFile:
    """``with AtomicFile(path) as f: f.write(...)`` - the file appears whole or not at all."""

    def __init__(self, path: Path, mode: str = "wb"):
        self.path = Path(path)
        self.mode = mode

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        self.file = os.fdopen(fd, self.mode)
        return self.file

    def __exit__(self, exc_type, exc, tb):
        self.file.close()
        if exc_type is None:
            os.replace(self.temp, self.path)
        else:
            os.unlink(self.temp)
        return False


@dataclass
class Job:
    label: str                   # how errors name the input
    source: Path | None          # None: stdin
    target: Path | None          # None: stdout
    target_format: str | None    # None: the other format than the input's
    derive_suffix: bool = False  # in an output folder: same stem, the new format's extension

    def read(self) -> bytes:
        if self.source is None:
            return sys.stdin.buffer.read()
        return self.source.read_bytes()

    def write(self, data: bytes, fmt: str) -> None:
        if self.target is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        target = self.target
        if self.derive_suffix:
            target = target.with_suffix(SUFFIXES[fmt])
        if self.source is not None and target.resolve() == self.source.resolve():
            raise UsageError(f"{self.label}: refusing to overwrite the input file")
        with AtomicFile(target) as out:
            out.write(data)


@dataclass
class OutputPlan:
    jobs: list[Job]


def _expand(inputs: list[str]) -> list[tuple[Path | None, Path | None]]:
    """(file, folder it was found in) for every input; folders give their .json/.xml files."""
    found = []
    for name in inputs:
        if name == "-":
            found.append((None, None))
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".json", ".xml") and p.is_file())
            found.extend((p, path) for p in files)
        elif path.is_file():
            found.append((path, None))
        else:
            raise UsageError(f"{name}: no such file or folder")
    return found


def plan_outputs(inputs: list[str], output: str | None, to: str | None) -> OutputPlan:
    found = _expand(inputs)
    several = len(found) > 1 or any(folder is not None for _, folder in found)
    out = None if output in (None, "-") else Path(output)
    if out is not None and to is None and out.suffix.lower() in (".json", ".xml") and not several:
        to = out.suffix.lower()[1:]
    to_folder = out is not None and (several or out.is_dir() or output.endswith(("/", os.sep)))
    if several and out is None and output != "-":
        if any(folder is not None for _, folder in found):
            raise UsageError("a folder as input needs -o FOLDER for the results")
    jobs = []
    for source, folder in found:
        label = "<stdin>" if source is None else str(source)
        if out is None:
            target = None
        elif to_folder:
            if source is None:
                raise UsageError("stdin (-) cannot be combined with an output folder")
            relative = source.relative_to(folder) if folder is not None else Path(source.name)
            jobs.append(Job(label, source, out / relative, to, derive_suffix=True))
            continue
        else:
            target = out
        jobs.append(Job(label, source, target, to))
    return OutputPlan(jobs)
