"""Counting a bulk run, drawing its progress bar, and the one-line summary at the end.

The bar (tqdm, like sqlite-utils' progress bars) is drawn only when stderr is a terminal and
the user did not ask for ``--quiet``: a pipeline or a log file gets nothing but the summary.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

__all__ = ["Tally", "Progress"]


@dataclass
class Tally:
    """What happened to the records of a run. ``read == written + rejected`` by construction:
    every record the workers see comes back counted as exactly one of the two."""

    read: int = 0
    written: int = 0
    rejected: int = 0
    warnings: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, other: "Tally") -> None:
        self.read += other.read
        self.written += other.written
        self.rejected += other.rejected
        self.warnings += other.warnings

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> str:
        seconds = self.seconds
        rate = f", {self.read / seconds:,.0f} records/s" if seconds > 0 and self.read else ""
        return (f"{self.read} read, {self.written} written, {self.rejected} rejected, "
                f"{self.warnings} warnings in {seconds:.2f} s{rate}")


class Progress:
    """A records/s + bytes bar on a terminal; does nothing otherwise."""

    def __init__(self, *, total_bytes: int | None | Callable[[], int | None], quiet: bool,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.bar = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm  # imported only when a bar will be drawn

            if callable(total_bytes):      # measuring the input costs a walk: only for a bar
                total_bytes = total_bytes()

            self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                            file=self.stream, dynamic_ncols=True, leave=False,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {postfix}]"
                            if total_bytes else "{n_fmt} [{elapsed}, {rate_fmt}, {postfix}]")
        self.records = 0
        self.started = time.monotonic()

    def advance(self, *, records: int, nbytes: int) -> None:
        self.records += records
        if self.bar is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{self.records:,} records, {self.records / elapsed:,.0f} records/s",
                                     refresh=False)
            self.bar.update(nbytes)

    def message(self, line: str) -> None:
        """A line on stderr that does not tear the bar."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
