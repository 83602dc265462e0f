"""Where the command line reads from and writes to.

* **Inputs** are expanded (folders walked) and classified: an NDJSON file (``.ndjson``,
  ``.jsonl``) is a stream of records, one per line; a ``.json``/``.xml`` file is one record.
  ``.gz`` is recognised on any of them (and by its magic bytes on stdin).
* **Outputs** are planned per input: stdout, one file, or a folder of one document per record.
* **Sinks** write atomically: everything goes to a temporary file (or folder) beside the
  destination, renamed into place only when the run completes. An interrupted or failed run
  (Ctrl-C, SIGTERM, a crash, a full disk) leaves nothing under the destination's name, and an
  input file is never a destination.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["UsageError", "AtomicFile", "Job", "Plan", "plan_jobs", "FileSink", "StdoutSink", "FolderSink",
           "LazyFileSink", "SpoolFile", "write_output", "input_kind", "default_rejects_path", "refuse_inputs",
           "resolve_format"]

DOCUMENT_SUFFIXES = {".json": "json", ".xml": "xml"}
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
FORMAT_SUFFIXES = {"json": ".json", "xml": ".xml"}


class UsageError(Exception):
    """The command line asks for something impossible; exit code 2."""


# -- inputs ----------------------------------------------------------------------------------

def _plain_name(path: Path) -> str:
    """The name without a trailing ``.gz``, lower-cased, for classification."""
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def input_kind(path: Path) -> str | None:
    """``"ndjson"``, ``"document"`` or None (not a FHIR file this tool reads from a folder)."""
    name = _plain_name(path)
    if name.endswith(NDJSON_SUFFIXES):
        return "ndjson"
    if name.endswith(tuple(DOCUMENT_SUFFIXES)):
        return "document"
    return None


def _walk(folder: Path) -> Iterator[Path]:
    """The FHIR files of a folder, depth first in name order, one directory listed at a time (a
    folder of a million files is never held as a million paths)."""
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file() and input_kind(path) and not _is_ours(path):
            yield path


def _expand(inputs: list[str]) -> Iterator[tuple[Path | None, Path | None]]:
    """(file, folder it was found in) for every input, lazily."""
    for name in inputs:
        if name == "-":
            yield None, None
            continue
        path = Path(name)
        if path.is_dir():
            for file in _walk(path):
                yield file, path
        else:
            yield path, None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _is_ours(path: Path) -> bool:
    """Temporary files of an interrupted earlier run, which must not be read as input."""
    return path.name.startswith(".") and ".part" in path.name


# -- the plan ----------------------------------------------------------------------------------

@dataclass
class Job:
    """One input and where its records go."""

    label: str                  # how messages name the input
    source: Path | None         # None: stdin
    kind: str | None            # "ndjson", "document", or None: sniffed when read (stdin)
    to: str | None              # output format; None: decided once the input is sniffed (stdin)
    target: Path | None         # None: stdout
    per_record: bool = False    # NDJSON -> one document per record, in the folder ``target``
    as_lines: bool = False      # written as NDJSON lines into ``target`` (shared by every job)
    compress: bool = False      # gzip what goes to ``target``


def default_rejects_path(output: str | None) -> Path:
    """``out.ndjson`` -> ``out.rejects.ndjson`` beside it; a folder -> ``folder.rejects.ndjson``
    beside it (not inside, where it would mix with the results); stdout -> the current folder."""
    if output in (None, "-"):
        return Path("fhirconv.rejects.ndjson")
    out = Path(output.rstrip("/" + os.sep))
    stem = out.name
    for suffix in (".gz", ".ndjson", ".jsonl", ".json", ".xml"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return out.with_name(f"{stem}.rejects.ndjson")


def resolve_format(kind: str, own_format: str, to: str | None, default: str) -> str:
    """The output format of an input: ``to`` if given, else ``default`` applied to the input's
    own format: ``"other"`` (convert: JSON <-> XML) or ``"same"`` (migrate)."""
    if to:
        return to
    if default == "same":
        return own_format
    return "xml" if own_format == "json" else "json"


def _own_format(path: Path) -> str:
    return "xml" if _plain_name(path).endswith(".xml") else "json"


def _target_name(source: Path, kind: str, to: str, per_record: bool, bundle: bool) -> str:
    """The output name of ``source`` inside an output folder: same stem, the new format."""
    gz = source.name.lower().endswith(".gz")
    stem = source.name[:-3] if gz else source.name
    stem = stem.rsplit(".", 1)[0]
    if per_record:
        return stem                                   # a sub-folder of documents
    suffix = ".ndjson" if kind == "ndjson" and not bundle else FORMAT_SUFFIXES[to]
    return stem + suffix + (".gz" if gz else "")


@dataclass
class Plan:
    """The jobs of a run, made one at a time as the run reaches them."""

    jobs: Iterator[Job]
    files: list[Path]              # the files named on the command line
    folders: list[Path]            # the folders named on the command line
    stdin: bool
    single_document: bool          # one .json/.xml file: a worker pool would only add start-up time

    def total_bytes(self) -> int | None:
        """Input size for the progress bar (a walk of the folders; only asked for on a terminal)."""
        if self.stdin:
            return None
        total = 0
        for path in self.files + [f for folder in self.folders for f in _walk(folder)]:
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total


def plan_jobs(inputs: list[str], output: str | None, *, to: str | None, default: str,
              bundle: bool) -> Plan:
    """The jobs of a run. ``to`` None: from ``-o``'s extension, else per input (``default``).

    Several inputs or a folder go to the folder ``-o`` names (same stem, new extension); NDJSON
    in and XML out writes a document per record into a folder, unless ``bundle`` asks for one
    Bundle. Whatever can be refused from the command line alone is refused here, before any work.
    """
    files, folders, stdin = [], [], False
    for name in inputs:
        if name == "-":
            stdin = True
        elif Path(name).is_dir():
            folders.append(Path(name))
        elif Path(name).is_file():
            files.append(Path(name))
        else:
            raise UsageError(f"{name}: no such file or folder")
    out = None if output in (None, "-") else Path(output)
    several = len(inputs) > 1 or bool(folders)
    if to is None and out is not None and not several:
        plain = _plain_name(out)
        if plain.endswith(".xml"):
            to = "xml"
        elif plain.endswith((".json",) + NDJSON_SUFFIXES):
            to = "json"
    # -o NAME.ndjson collects every record of every input (documents too) as NDJSON lines.
    as_lines = out is not None and _plain_name(out).endswith(NDJSON_SUFFIXES)
    if as_lines:
        if to == "xml":
            raise UsageError(f"{out}: NDJSON output is JSON; drop --to xml or name a folder")
        to = "json"
    to_folder = (out is not None and not as_lines
                 and (several or out.is_dir() or output.endswith(("/", os.sep))))
    if folders and out is None and output != "-":
        raise UsageError("a folder as input needs -o FOLDER for the results")
    if stdin and to_folder:
        raise UsageError("stdin (-) cannot be combined with an output folder")
    if out is not None:
        resolved = out.resolve()
        for folder in folders:
            if _inside(resolved, folder.resolve()):
                # it would read its own results, and could replace an input when it renames them
                raise UsageError(f"{out}: the output may not be inside the input folder {folder}")
    refuse_inputs([out] if out is not None and not to_folder else [], files)
    explicit = {f.resolve() for f in files}

    def jobs() -> Iterator[Job]:
        for source, folder in _expand(inputs):
            if source is None:
                yield Job("<stdin>", None, None, to, out, as_lines=as_lines,
                          compress=out is not None and out.name.lower().endswith(".gz"))
                continue
            kind = input_kind(source) or "document"
            fmt = resolve_format(kind, "json" if kind == "ndjson" else _own_format(source), to, default)
            per_record = kind == "ndjson" and fmt == "xml" and not bundle
            if to_folder:
                relative = source.relative_to(folder) if folder is not None else Path(source.name)
                target = out / relative.parent / _target_name(source, kind, fmt, per_record, bundle)
                if target.resolve() in explicit or target.resolve() == source.resolve():
                    raise UsageError(f"{target}: refusing to overwrite an input file")
            else:
                target = out
            if per_record and (target is None or _plain_name(target).endswith((".xml", ".json"))):
                raise UsageError(f"{source}: NDJSON to XML writes one XML document per record: give -o FOLDER "
                                 f"(or --bundle for a single Bundle)")
            compress = target is not None and not per_record and target.name.lower().endswith(".gz")
            yield Job(str(source), source, kind, fmt, target, per_record=per_record, compress=compress,
                      as_lines=as_lines)

    single = len(files) == 1 and not folders and not stdin and input_kind(files[0]) != "ndjson"
    return Plan(jobs(), files, folders, stdin, single)


def refuse_inputs(targets: list[Path | None], sources: list[Path]) -> None:
    """An input file is never overwritten, whatever the command line says."""
    inputs = {s.resolve() for s in sources}
    for target in targets:
        if target is not None and target.resolve() in inputs:
            raise UsageError(f"{target}: refusing to overwrite an input file")


# -- sinks -------------------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_beside(path: Path, *, folder: bool = False) -> Path:
    """A new temporary file (or folder) in the destination's folder, so the final rename stays on
    one file system and is atomic. mkstemp makes it private (0600); it gets the permissions an
    ordinary new file would have, since it becomes the output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name}.", ".part"
    if folder:
        name = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.chmod(name, 0o777 & ~_umask())
        return Path(name)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(name)


class AtomicFile:
    """``with AtomicFile(path) as f: f.write(...)`` - the file appears whole or not at all."""

    def __init__(self, path: Path, mode: str = "wb"):
        self.path = Path(path)
        self.mode = mode

    def __enter__(self):
        self.temp = _temp_beside(self.path)
        self.file = open(self.temp, self.mode)
        return self.file

    def __exit__(self, exc_type, exc, tb):
        try:
            self.file.close()
        finally:
            if exc_type is None:
                os.replace(self.temp, self.path)
            else:
                _remove(self.temp)
        return False


class SpoolFile:
    """A worker's output left in a file of the spool folder, to be appended to the real output.

    Handing a ~2 MB result back through the process pool costs a pickle, a pipe write, a pipe
    read and an unpickle, split between the worker and the main process, which then copies the
    bytes once more into the output. A spool file is written once by the worker; the main
    process has the kernel append it (``copy_file_range``), touching none of the bytes, so it
    stays nearly idle and the two cores stay with the workers.
    """

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path

    @staticmethod
    def create(folder: str, data: bytes) -> "SpoolFile":
        """Leave ``data`` in a new file of ``folder`` (a worker's side)."""
        fd, path = tempfile.mkstemp(dir=folder, suffix=".part")
        with open(fd, "wb") as spooled:
            spooled.write(data)
        return SpoolFile(path)

    def append_to(self, out) -> int:
        """Append the spooled bytes to the binary file ``out``, delete the spool file, return the size."""
        out.flush()                       # what ``out`` buffered goes first
        copied = 0
        with open(self.path, "rb") as spooled:
            size = os.fstat(spooled.fileno()).st_size
            try:
                while copied < size:
                    step = os.copy_file_range(spooled.fileno(), out.fileno(), size - copied)
                    if step == 0:
                        break
                    copied += step
            except (AttributeError, OSError, ValueError):
                # No copy_file_range (not Linux), or not between these two (a pipe, an O_APPEND
                # stdout, another file system on an old kernel): copy through user space.
                pass
            if copied < size:
                spooled.seek(copied)
                shutil.copyfileobj(spooled, out, 1 << 20)
        os.unlink(self.path)
        return size


def write_output(out, data: bytes | SpoolFile) -> int:
    """Write a result's output (bytes, or a worker's spool file) to the binary file ``out``;
    returns the number of bytes."""
    if isinstance(data, SpoolFile):
        return data.append_to(out)
    if data:
        out.write(data)
    return len(data)


def _remove(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


class StdoutSink:
    """Streams to stdout as results arrive (a pipe reader sees records as soon as they are done)."""

    def __init__(self):
        self.out = sys.stdout.buffer

    def write(self, data: bytes | SpoolFile) -> None:
        write_output(self.out, data)

    def commit(self) -> None:
        self.out.flush()

    def abort(self) -> None:
        pass


class FileSink:
    """Writes to a temporary file beside ``path``; ``commit`` renames it into place.

    The rename must not publish data that is still only in the page cache, so ``commit`` waits
    for an fsync. Left to the end, that wait is the disk writing the whole output while every
    core idles (0.2 s per 100 MB here); so every :data:`SYNC_EVERY` bytes the part written so
    far starts going to disk in a background thread, and the last fsync has only the tail left.
    """

    SYNC_EVERY = 16 << 20

    def __init__(self, path: Path):
        self.path = path
        self.temp = _temp_beside(path)
        self.file = open(self.temp, "wb", buffering=1 << 20)
        self.unsynced = 0
        self.syncing: threading.Thread | None = None

    def write(self, data: bytes | SpoolFile) -> None:
        self.unsynced += write_output(self.file, data)
        if self.unsynced >= self.SYNC_EVERY and (self.syncing is None or not self.syncing.is_alive()):
            self.file.flush()
            self.unsynced = 0
            self.syncing = threading.Thread(target=_sync_quietly, args=(self.file.fileno(),), daemon=True)
            self.syncing.start()

    def _wait_for_sync(self) -> None:
        if self.syncing is not None:
            self.syncing.join()       # before the file is closed: the thread holds its descriptor

    def commit(self) -> None:
        self.file.flush()
        self._wait_for_sync()
        os.fsync(self.file.fileno())  # errors surface here, whatever the background sync met
        self.file.close()
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        self._wait_for_sync()
        self.file.close()
        _remove(self.temp)


def _sync_quietly(fd: int) -> None:
    try:
        getattr(os, "fdatasync", os.fsync)(fd)     # (macOS has no fdatasync)
    except OSError:
        pass                      # commit's own fsync reports it


class LazyFileSink:
    """A :class:`FileSink` created only when something is written (a rejects file, a single
    converted document): a clean run leaves no empty file behind."""

    def __init__(self, path: Path):
        self.path = path
        self.sink: FileSink | None = None
        self.used = False

    def write(self, data: bytes | SpoolFile) -> None:
        if not data:
            return
        if self.sink is None:
            self.sink = FileSink(self.path)
        self.used = True
        self.sink.write(data)

    def commit(self) -> None:
        if self.sink is not None:
            self.sink.commit()

    def abort(self) -> None:
        if self.sink is not None:
            self.sink.abort()


_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_]")


class FolderSink:
    """One document per record in a temporary folder beside ``path``, moved into place on commit.

    A file is named ``ResourceType-id.xml`` (what a FHIR server export looks like), or
    ``line-N.xml`` for a record without an id; a second record with the same type and id gets
    ``-line-N`` added rather than overwriting the first.
    """

    def __init__(self, path: Path, suffix: str):
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path}: exists and is not a folder")
        self.path = path
        self.suffix = suffix
        self.temp = _temp_beside(path, folder=True)

    def write_document(self, hint: str | None, line: int, data: bytes) -> None:
        stem = _UNSAFE.sub("_", hint)[:120] if hint else f"line-{line}"
        target = self.temp / (stem + self.suffix)
        if target.exists():
            target = self.temp / f"{stem}-line-{line}{self.suffix}"
        with open(target, "wb") as out:
            out.write(data)

    def commit(self) -> None:
        if not self.path.exists():
            os.replace(self.temp, self.path)
            return
        # The folder exists (perhaps with other files): move the documents in one by one. Each
        # rename is atomic, so every file under the destination is whole.
        for item in sorted(self.temp.iterdir()):
            os.replace(item, self.path / item.name)
        self.temp.rmdir()

    def abort(self) -> None:
        _remove(self.temp)
