"""The bulk pipeline behind ``fhirconv convert`` and ``fhirconv migrate``.

    inputs --(main: ~2 MB blocks of a file, chunks of whole lines, or one document)--> tasks
    tasks  --(N worker processes: read, split, convert/migrate, serialize, gzip)--> results
    results --(main: in input order)--> output, rejects, report, progress

The main process does as little per record as possible (it never parses a line), so two
workers keep two cores busy. With workers, the bulk of the bytes does not go through the main
process or the pool's pipes either: a plain file is handed out as byte blocks, which the main
never reads (each worker reads its block and cuts it into whole lines itself), and a chunk's
output comes back as a spool file that the kernel appends to the destination. At most
``3 x jobs`` tasks are in flight, so memory does not grow with the input. Chunk boundaries
depend on the input alone, and results are written in task order, so the output is
byte-for-byte the same whatever the number of jobs.

Every record a worker sees comes back counted as written or rejected, with its line number
and reason when rejected: records read = written + rejected, always. A worker that read a
block does not know how many lines came before it; it numbers its lines from 1 and the main
process, which sees the results in order and counts their lines, shifts them (by nothing for a
chunk whose first line number the main process counted itself).
"""

from __future__ import annotations

import gc
import gzip
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import orjson

from .errors import FhirConvError, MigrationError
from .ndjson import CHUNK_BYTES, GZIP_MAGIC, block_lines, gzip_member, open_binary, read_chunks, split_lines
from .outputs import (FileSink, FolderSink, Job, LazyFileSink, Plan, SpoolFile, StdoutSink, UsageError,
                      resolve_format)
from .progress import Progress, Tally
from .records import Done, Work, process_record, tag_outcome

__all__ = ["Work", "Settings", "run", "Task", "Result", "run_task"]

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
MAX_MESSAGES = 50          # stderr lines for rejects; the rest are in the rejects file


@dataclass
class Settings:
    """How a run is carried out (as opposed to :class:`Work`, what is done to each record)."""

    jobs: int = 1
    bundle: bool = False
    rejects: Path | None = None
    report: Path | None = None
    quiet: bool = False
    default_format: str = "other"      # convert: "other" (JSON <-> XML); migrate: "same"
    chunk_bytes: int = CHUNK_BYTES


@dataclass
class Task:
    """A piece of work for one worker: a chunk of NDJSON lines, or one whole document."""

    job: int
    label: str
    mode: str                  # "lines", "documents", "bundle-json", "bundle-xml", "document", "document-line"
    to: str | None
    first_line: int = 1        # the number of the piece's first line: the file's when the main process
                               # counted the lines before it (read_chunks), else 1 (a block)
    data: bytes | None = None  # the chunk, or a document from stdin
    path: str | None = None    # a document file, or the file ``block`` is in: read by the worker
    block: tuple[int, int, bool] | None = None  # (start, end, to_end) in ``path``: see ndjson.block_lines
    compress: bool = False
    nbytes: int = 0            # input bytes this task stands for, for the progress bar
    spool: str | None = None   # a folder: leave the output there (a SpoolFile), not in the Result
                               # (one document per record always comes back as bytes: FolderSink names each)


class Refusal(NamedTuple):
    """A rejected record, as the worker saw it; the main process words it (see :func:`_describe`)."""

    line: int                    # the record's line, as numbered in its task
    error_line: int | None       # where in the record the error is
    column: int | None
    path: str | None             # the element
    message: str
    raw: bytes | None            # the record for the rejects file (None: a document file, left where it is)


@dataclass
class Result:
    job: int
    output: bytes | SpoolFile = b""
    documents: list = field(default_factory=list)    # (name hint, line, bytes) per record
    refused: list = field(default_factory=list)      # a Refusal per rejected record
    report: bytes = b""
    messages: list = field(default_factory=list)     # stderr lines other than the refusals
    newlines: int = 0                                 # line ends in the task's piece of lines
    first_line: int = 1                               # the number its lines were counted from
    read: int = 0
    written: int = 0
    rejected: int = 0
    warnings: int = 0
    nbytes: int = 0
    failure: str | None = None                        # the input could not be read on


# -- the worker side -----------------------------------------------------------------------------

_WORK: Work | None = None


def _init_worker(work: Work, in_child: bool) -> None:
    """Runs once per worker process: keep the settings, load the definitions now (not on the
    first record), and leave Ctrl-C to the main process, which stops the run and cleans up."""
    global _WORK
    _WORK = work
    if in_child:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from . import api
    api.Converter(fhir_version=work.fhir_version)
    if work.target_version:
        api.Converter(fhir_version=work.target_version)
    # Everything loaded so far (the definitions above all) lives until the process ends: frozen,
    # the cyclic collector stops walking it in every full collection and again at exit.
    gc.freeze()


def _refusal(line: int, done: Done, raw: bytes | None) -> Refusal:
    err = done.error
    if err is None:
        err = MigrationError(done.reason or "rejected")
    return Refusal(line, err.line, err.column, err.path, err.message, raw)


def _describe(label: str, refusal: Refusal, shift: int, in_ndjson: bool) -> tuple[str, dict]:
    """The stderr line and the rejects-file fields of a rejected record, its line number moved
    on by ``shift`` (the lines before the task's piece, when the worker could not know them).

    The position is in the input file: for an NDJSON record, the record's line number (an
    error's line inside a one-line record is always 1) with the error's column.
    """
    line = refusal.line + shift
    file_line = (line + (refusal.error_line or 1) - 1) if in_ndjson else refusal.error_line
    position = ""
    if file_line is not None:
        position = f"line {file_line}" + (f", column {refusal.column}" if refusal.column is not None else "")
    where = f"{refusal.path} ({position})" if refusal.path and position else (refusal.path or position)
    reason = f"{where}: {refusal.message}" if where else refusal.message
    fields = {"file": label, "line": file_line if file_line is not None else line}
    if refusal.path:
        fields["path"] = refusal.path
    if refusal.column is not None:
        fields["column"] = refusal.column
    fields["reason"] = refusal.message
    return f"{label}: {reason}", fields


def _reject_line(fields: dict, raw: bytes) -> bytes:
    """A line of the rejects file: where, why, and the raw record (as text; base64 too when the
    bytes are not UTF-8, so that the record can be recovered exactly)."""
    try:
        fields["record"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        import base64
        fields["record"] = raw.decode("utf-8", "replace")
        fields["recordBase64"] = base64.b64encode(raw).decode("ascii")
    return orjson.dumps(fields) + b"\n"


def _entry(mode: str, payload: bytes) -> bytes:
    if mode == "bundle-json":
        return b'{"resource":' + payload + b"}"
    if payload.startswith(XML_DECLARATION):
        payload = payload[len(XML_DECLARATION):].lstrip(b"\r\n")
    return b"<entry><resource>" + payload + b"</resource></entry>"


def _hint(done: Done) -> str | None:
    if done.resource_type and done.id:
        return f"{done.resource_type}-{done.id}"
    return None


def run_task(task: Task) -> Result:
    """Process one task (in a worker, or in the main process with one job)."""
    work = _WORK
    result = Result(job=task.job, nbytes=task.nbytes)
    if task.mode.startswith("document-") or task.mode == "document":
        return _run_document(work, task, result)
    # Compact output for lines and Bundle entries (one record per line; a Bundle's nesting would
    # make a record's own indentation wrong anyway); documents follow --compact.
    pretty = work.pretty if task.mode == "documents" else False
    data = task.data
    if task.block is not None:
        start, end, to_end = task.block
        try:
            with open(task.path, "rb") as source:
                data = block_lines(source, start, end, to_end=to_end)
        except OSError as err:
            result.failure = f"{task.label}: cannot read on from byte {start}: {err.strerror or err}"
            return result
    result.first_line = task.first_line
    records, result.newlines = split_lines(data, task.first_line)
    out, reports = [], []
    for line, raw in records:
        done = process_record(work, raw, task.to, pretty=pretty)
        result.read += 1
        result.warnings += done.warnings
        if done.payload is not None:
            result.written += 1
            if task.mode == "lines":
                out.append(done.payload)
                out.append(b"\n")
            elif task.mode == "documents":
                result.documents.append((_hint(done), line, done.payload))
            else:
                out.append(_entry(task.mode, done.payload))
        else:
            result.rejected += 1
            result.refused.append(_refusal(line, done, raw))
        if work.report and done.outcome is not None:
            # (a report run hands out chunks with their first line number: see _line_tasks)
            reports.append(orjson.dumps(tag_outcome(done.outcome, source=task.label, line=line,
                                                    resource_type=done.resource_type, rid=done.id),
                                        default=str) + b"\n")
    separator = b"," if task.mode == "bundle-json" else b""
    output = separator.join(out) if task.mode.startswith("bundle") else b"".join(out)
    result.output = gzip_member(output) if task.compress else output
    if task.spool is not None and result.output:
        result.output = SpoolFile.create(task.spool, result.output)
    result.report = b"".join(reports)
    return result


def _run_document(work: Work, task: Task, result: Result) -> Result:
    try:
        data = task.data if task.data is not None else Path(task.path).read_bytes()
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
    except (OSError, EOFError) as err:
        result.read = result.rejected = 1
        result.messages.append(f"{task.label}: cannot read: {getattr(err, 'strerror', None) or err}")
        return result
    as_line = task.mode == "document-line"
    done = process_record(work, data, task.to, pretty=work.pretty and not as_line)
    result.read = 1
    result.warnings = done.warnings
    if done.payload is not None:
        result.written = 1
        payload = done.payload + b"\n" if as_line else done.payload
        result.output = gzip_member(payload) if task.compress else payload
    else:
        # A whole file is its own raw record and stays where it is: named on stderr, not copied
        # into the rejects file.
        result.rejected = 1
        result.refused.append(_refusal(1, done, None))
    if work.report and done.outcome is not None:
        result.report = orjson.dumps(tag_outcome(done.outcome, source=task.label, line=1,
                                                 resource_type=done.resource_type, rid=done.id),
                                     default=str) + b"\n"
    return result


# -- the main side: tasks in, results out in order ------------------------------------------------

def _mode(job: Job, bundle: bool) -> str:
    if job.kind == "document":
        return "document-line" if job.as_lines else "document"
    if job.per_record:
        return "documents"
    if bundle:
        return "bundle-xml" if job.to == "xml" else "bundle-json"
    return "lines"


def _sniff_stdin(job: Job, stream, settings: Settings) -> bytes:
    """Decide what stdin holds from its first chunk: XML or a multi-line JSON resource is one
    document; a first line that is a whole JSON value followed by more lines is NDJSON (so a
    single compact resource piped in is still converted as a document)."""
    head = stream.read(settings.chunk_bytes)
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    kind = "document"
    if first == b"{":
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        line, newline, rest = stripped.partition(b"\n")
        if newline and rest.strip():
            try:
                orjson.loads(line)
                kind = "ndjson"
            except orjson.JSONDecodeError:
                pass
    job.kind = kind
    own = "xml" if first == b"<" else "json"
    job.to = resolve_format(kind, own, job.to, settings.default_format)
    job.per_record = kind == "ndjson" and job.to == "xml" and not settings.bundle
    if job.per_record and job.target is None:
        raise UsageError("NDJSON to XML writes one XML document per record: give -o FOLDER "
                         "(or --bundle for a single Bundle)")
    return head


class _Prepended:
    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def read(self, n: int) -> bytes:
        if self.head:
            piece, self.head = self.head[:n], self.head[n:]
            return piece
        return self.stream.read(n)


def _tasks(jobs, live: dict, settings: Settings, stdin, spool: str | None) -> Iterator[Task | Result]:
    """Tasks for every job, made lazily; ``live`` maps the index of each job that has tasks in
    flight to its Job (the main loop drops a job once its results are written). ``spool``: the
    workers' spool folder (None with one job)."""
    for index, job in enumerate(jobs):
        live[index] = job
        if job.source is None:
            stream = open_binary(stdin)
            head = _sniff_stdin(job, stream, settings)
            if job.kind == "document":
                data = head + stream.read()
                yield Task(index, job.label, _mode(job, settings.bundle), job.to, data=data,
                           compress=job.compress, nbytes=len(data))
                continue
            yield from _line_tasks(index, job, _Prepended(head, stream), None, settings, spool)
            continue
        if job.kind == "document":
            yield Task(index, job.label, _mode(job, settings.bundle), job.to, path=str(job.source),
                       compress=job.compress, nbytes=_size(job.source))
            continue
        try:
            raw = open(job.source, "rb")
        except OSError as err:
            yield Result(index, read=0, failure=f"{job.label}: cannot read: {err.strerror or err}")
            continue
        with raw:
            stream = open_binary(raw)
            if stream is raw and not settings.report:
                yield from _block_tasks(index, job, raw, settings, spool)
            else:
                yield from _line_tasks(index, job, stream, raw, settings, spool)


def _block_tasks(index: int, job: Job, raw, settings: Settings, spool: str | None) -> Iterator[Task | Result]:
    """A plain file (open_binary gave the file itself: not gzip, seekable): tasks that name
    byte blocks of it, made without reading it. Whoever runs a task (a worker, or the main
    process with one job) reads its block and cuts it into the piece of whole lines read_chunks
    would cut (ndjson.block_lines) in one read, with no newline counted: 2-3% faster than
    read_chunks even with one job. (A report names every record's line number where the record
    is handled: a report run takes :func:`_line_tasks`, which counts the lines.)"""
    mode = _mode(job, settings.bundle)
    try:
        size = os.fstat(raw.fileno()).st_size
        unterminated = False
        if size:
            raw.seek(size - 1)
            unterminated = raw.read(1) != b"\n"
    except OSError as err:
        yield Result(index, failure=f"{job.label}: cannot read: {err.strerror or err}")
        return
    if not size:                         # one task even so: the output file is still written
        yield Task(index, job.label, mode, job.to, data=b"", compress=job.compress)
        return
    path = str(job.source)
    for start in range(0, size, settings.chunk_bytes):
        end = min(start + settings.chunk_bytes, size)
        yield Task(index, job.label, mode, job.to, path=path, block=(start, end, False),
                   compress=job.compress, nbytes=end - start, spool=spool)
    if unterminated:                     # the last line, without a newline: a piece of its own
        yield Task(index, job.label, mode, job.to, path=path, block=(size, size, True),
                   compress=job.compress, spool=spool)


def _line_tasks(index: int, job: Job, stream, raw, settings: Settings, spool: str | None
                ) -> Iterator[Task | Result]:
    """Chunks of whole lines read here, numbered: stdin, gzip, a report run."""
    mode = _mode(job, settings.bundle)
    position = 0
    unread = 1                           # the first line not handed out yet, for a read error
    try:
        for first_line, chunk, newlines in read_chunks(stream, settings.chunk_bytes):
            now = raw.tell() if raw is not None else position + len(chunk)   # gzip: compressed bytes
            yield Task(index, job.label, mode, job.to, first_line=first_line, data=chunk,
                       compress=job.compress, nbytes=now - position, spool=spool)
            position, unread = now, first_line + newlines
        # Always one task, even for an empty input: its output file is still written.
        if position == 0:
            yield Task(index, job.label, mode, job.to, data=b"", compress=job.compress)
    except (OSError, EOFError) as err:   # a truncated or corrupt .gz, a read error
        yield Result(index, failure=f"{job.label}: cannot read past line {unread}: {err}")


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


class _Workers:
    """Runs tasks in worker processes (or here, for one job) and yields results in task order."""

    def __init__(self, work: Work, jobs: int):
        self.jobs = jobs
        self.executor = None
        self.spool: str | None = None
        if jobs > 1:
            self.spool = tempfile.mkdtemp(prefix="fhirconv-spool-")
            # fork: a worker starts with fhirconv already imported and its definitions loaded
            # (the initializer makes sure); spawn where fork does not exist.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            self.executor = ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                                initializer=_init_worker, initargs=(work, True))
            # Start the workers now, before the progress bar's monitor thread exists: forking a
            # process that has other threads can copy a lock in its held state.
            self.executor.submit(_started).result()
        else:
            _init_worker(work, in_child=False)

    def ordered(self, tasks: Iterator[Task | Result]) -> Iterator[Result]:
        if self.executor is None:
            for task in tasks:
                yield task if isinstance(task, Result) else run_task(task)
            return
        limit = 3 * self.jobs        # enough to keep every worker busy, few enough to stay small
        pending: deque = deque()
        for task in tasks:
            pending.append(task if isinstance(task, Result) else self.executor.submit(run_task, task))
            while pending and (len(pending) >= limit or _ready(pending[0])):
                yield _value(pending.popleft())
        while pending:
            yield _value(pending.popleft())

    def close(self, *, cancel: bool) -> None:
        if self.executor is not None:
            # Waits for the tasks already running even when cancelling (the interpreter would wait
            # for them at exit anyway): no worker may still be writing into the spool folder.
            self.executor.shutdown(wait=True, cancel_futures=cancel)
        if self.spool is not None:       # what a stopped run had not appended yet
            shutil.rmtree(self.spool, ignore_errors=True)


def _started() -> bool:
    return True


def _ready(item) -> bool:
    return not isinstance(item, Future) or item.done()


def _value(item) -> Result:
    return item.result() if isinstance(item, Future) else item


class _BundleSink:
    """Wraps the records' entries in a Bundle of type collection, streamed: nothing is held."""

    def __init__(self, sink, fmt: str, compress: bool):
        self.sink, self.fmt, self.compress = sink, fmt, compress
        self.entries = 0
        if fmt == "json":
            self._put(b'{"resourceType":"Bundle","type":"collection"')
        else:
            self._put(XML_DECLARATION + b'\n<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/>')

    def _put(self, data: bytes) -> None:
        self.sink.write(gzip_member(data) if self.compress else data)

    def write_entries(self, blob: bytes, count: int) -> None:
        if not count:
            return
        if self.fmt == "json":
            # FHIR JSON has no empty arrays: "entry" opens with the first entry.
            self._put(b"," if self.entries else b',"entry":[')
        self.sink.write(blob)
        self.entries += count

    def commit(self) -> None:
        if self.fmt == "json":
            self._put(b"]}\n" if self.entries else b"}\n")
        else:
            self._put(b"</Bundle>\n")
        self.sink.commit()

    def abort(self) -> None:
        self.sink.abort()


def _open_sink(job: Job, mode: str, stdout: StdoutSink):
    if mode == "documents":
        return FolderSink(job.target, ".xml")
    base = stdout if job.target is None else (LazyFileSink(job.target) if mode == "document"
                                               else FileSink(job.target))
    if job.target is not None and mode == "document-line":
        base = FileSink(job.target)          # an NDJSON file is written even when it stays empty
    if mode.startswith("bundle"):
        return _BundleSink(base, "json" if mode == "bundle-json" else "xml", job.compress)
    return base


@dataclass
class Outcome:
    tally: Tally
    unreadable: int = 0
    rejects_file: Path | None = None


def run(plan: Plan, work: Work, settings: Settings, *, stdin, messages) -> Outcome:
    """Run every job; ``messages(line)`` prints a line on stderr. Raises KeyboardInterrupt (and
    leaves no output under any destination name) when interrupted."""
    tally = Tally()
    outcome = Outcome(tally)
    rejects = LazyFileSink(settings.rejects) if settings.rejects else None
    report = FileSink(settings.report) if settings.report else None
    stdout = StdoutSink()
    workers = _Workers(work, settings.jobs)
    progress = Progress(total_bytes=plan.total_bytes, quiet=settings.quiet)
    live: dict[int, Job] = {}
    current = -1
    next_line = 1                        # of the current job: where the next result's lines start
    shown = 0
    sinks: dict[int, object] = {}
    try:
        for result in workers.ordered(_tasks(plan.jobs, live, settings, stdin, workers.spool)):
            job = live[result.job]
            if result.job != current:
                # Results arrive in job order: every earlier job is finished. (Jobs sharing one
                # NDJSON sink never open a new one, so this must not wait for a new sink.)
                for earlier in [i for i in live if i < result.job]:
                    del live[earlier]
                current, next_line = result.job, 1
            mode = _mode(job, settings.bundle)
            shift = next_line - result.first_line     # 0 when the main process counted the lines already
            next_line += result.newlines
            # Jobs writing NDJSON lines into one -o file share its sink; any other job has its own.
            key = ("lines", job.target) if job.as_lines else result.job
            sink = sinks.get(key)
            if sink is None:
                for earlier in list(sinks):      # results arrive in job order: earlier jobs are done
                    sinks.pop(earlier).commit()
                sink = sinks[key] = _open_sink(job, mode, stdout)
            if result.failure:
                outcome.unreadable += 1
                progress.message(f"fhirconv: {result.failure}")
            if mode == "documents":
                for hint, line, data in result.documents:
                    sink.write_document(hint, line + shift, data)
            elif mode.startswith("bundle"):
                sink.write_entries(result.output, result.written)
            else:
                sink.write(result.output)
            in_ndjson = mode not in ("document", "document-line")     # a record's line is the file's
            for refusal in result.refused:
                message, fields = _describe(job.label, refusal, shift, in_ndjson)
                if refusal.raw is not None and rejects is not None:
                    rejects.write(_reject_line(fields, refusal.raw))
                shown += 1
                if shown <= MAX_MESSAGES:
                    progress.message(f"fhirconv: {message}")
            if result.report and report is not None:
                report.write(result.report)
            for message in result.messages:
                shown += 1
                if shown <= MAX_MESSAGES:
                    progress.message(f"fhirconv: {message}")
            tally.add(Tally(result.read, result.written, result.rejected, result.warnings))
            progress.advance(records=result.read, nbytes=result.nbytes)
        for sink in sinks.values():
            sink.commit()
        sinks.clear()
        if rejects is not None:
            rejects.commit()
            outcome.rejects_file = settings.rejects if rejects.used else None
        if report is not None:
            report.commit()
    except BaseException:
        workers.close(cancel=True)
        progress.close()
        for sink in sinks.values():
            sink.abort()
        for extra in (rejects, report):
            if extra is not None:
                extra.abort()
        raise
    workers.close(cancel=False)
    progress.close()
    if shown > MAX_MESSAGES:
        messages(f"fhirconv: {shown - MAX_MESSAGES} more rejected record(s) not shown"
                 + (f": see {settings.rejects}" if settings.rejects else ""))
    return outcome
