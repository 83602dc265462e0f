"""The ``fhirconv`` command. The only module that prints or exits.

Exit codes (also in ``--help`` and the README):
  0  everything converted / migrated / valid / identical
  1  some input failed or was rejected (one line on stderr per failure: file, element path,
     line/column, reason)
  2  usage error (bad options, missing files, a version pair without mapping tables)
130  interrupted (Ctrl-C; 143 for SIGTERM): no output file is left under its destination name
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from . import __version__, api
from .bulk import Settings, run as run_bulk
from .errors import FhirConvError, UnsupportedVersionError
from .ndjson import open_binary, read_chunks, split_lines
from .outputs import UsageError, default_rejects_path, input_kind, plan_jobs, refuse_inputs
from .records import Work

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143

EXIT_CODES_HELP = """exit codes:
  0    all input converted (or valid, or identical after the round trip)
  1    some input failed or was rejected (one stderr line per failure: file, element path,
       line/column, reason)
  2    usage error (bad options, missing files, a version pair without mapping tables)
  130  interrupted (143: terminated); no partial output is left under the destination name
"""

BULK_HELP = """
inputs and outputs:
  INPUT is a file, a folder (every .json, .xml, .ndjson, .jsonl in it, also .gz) or - (stdin).
  A .json/.xml file is one resource; an .ndjson/.jsonl file is one resource per line and gives
  NDJSON out, or with XML out one document per record (ResourceType-id.xml) in the folder -o
  names, or one Bundle of type collection with --bundle. .gz is read and written transparently.
  Results are written to a temporary file beside the destination and renamed when complete.
  A rejected NDJSON record goes to the rejects file (default: beside the output,
  OUT.rejects.ndjson) with its line number, raw text and the reason.
"""


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so the run cleans up its temporary files."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _bulk_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file or folder (default: stdout); .gz to compress")
    parser.add_argument("--compact", action="store_true", help="no indentation (NDJSON is always compact)")
    parser.add_argument("--bundle", action="store_true",
                        help="NDJSON in: write one Bundle (type collection) instead of NDJSON / one file per record")
    parser.add_argument("-j", "--jobs", type=_positive, default=None, metavar="N",
                        help=f"worker processes (default: the machine's cores, here {_default_jobs()})")
    parser.add_argument("--rejects", metavar="FILE",
                        help="where rejected NDJSON records go (default: beside the output)")
    parser.add_argument("--report", metavar="FILE",
                        help="one OperationOutcome per record (NDJSON), naming the record's file, line and id")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none unless stderr is a terminal)")
    parser.add_argument("--narrative", choices=("keep", "report", "refuse"), default="keep",
                        help="keep: carry every narrative as written, unchecked (default); report: check it "
                             "against txt-1 and count and report what FHIR forbids (scripts, event handlers, "
                             "forms, other elements); refuse: also reject a record whose narrative could run or "
                             "load something when rendered. The narrative is never changed.")


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="fhirconv", description="Lossless FHIR JSON <-> XML conversion and version migration.",
        formatter_class=raw, epilog=EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"fhirconv {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    convert = commands.add_parser(
        "convert", help="convert FHIR resources between JSON and XML", formatter_class=raw,
        epilog=BULK_HELP + "\n" + EXIT_CODES_HELP,
        description="Convert FHIR resources between JSON and XML without losing anything.")
    _bulk_options(convert)
    convert.add_argument("-t", "--to", choices=("json", "xml"),
                         help="output format (default: from OUT's extension, else the other format)")
    convert.add_argument("--fhir-version", default="R4", metavar="VERSION",
                         help="R4, R5 or R6 (or 4.0.1, 5.0.0, 6.0.0-ballot3); default R4")
    convert.add_argument("--keep-comments", action="store_true",
                         help="carry XML comments into JSON as fhir_comments (off: comments are not content)")
    convert.set_defaults(run=run_convert)

    migrate = commands.add_parser(
        "migrate", help="migrate resources between FHIR versions (ImagingStudy R4 <-> R6)", formatter_class=raw,
        epilog=BULK_HELP + """
  ImagingStudy is migrated wherever it sits (top level, Bundle entries, contained); other
  resource types pass through unchanged with a warning in the report. A record whose
  migration report holds an error (it could not be made valid) is rejected, not written,
  unless --keep-invalid.
""" + "\n" + EXIT_CODES_HELP,
        description="Migrate FHIR resources between versions through the mapping tables, with a report.")
    _bulk_options(migrate)
    migrate.add_argument("--from", dest="source", required=True, metavar="VERSION", help="the input's FHIR version")
    migrate.add_argument("--to", dest="target", required=True, metavar="VERSION", help="the output's FHIR version")
    migrate.add_argument("--format", choices=("json", "xml"),
                         help="output format (default: from OUT's extension, else the input's own)")
    migrate.add_argument("--strict", action="store_true",
                         help="reject any resource whose migration is more than a plain copy or rename")
    migrate.add_argument("--keep-invalid", action="store_true",
                         help="write a resource even when its report has errors (it may then be invalid in "
                              "the target version); by default it is rejected")
    migrate.set_defaults(run=run_migrate)

    validate = commands.add_parser(
        "validate", help="check resources against their version's definitions", formatter_class=raw,
        epilog=EXIT_CODES_HELP,
        description="Check resources against their FHIR version's definitions (and the R6 ImagingStudy "
                    "invariants ist-1..7). Prints every issue; exit 1 when any is an error.")
    validate.add_argument("inputs", nargs="+", metavar="INPUT")
    validate.add_argument("--fhir-version", default="R4", metavar="VERSION", help="default R4")
    validate.set_defaults(run=run_validate)

    roundtrip = commands.add_parser(
        "roundtrip", help="migrate there and back and print what changed", formatter_class=raw,
        epilog=EXIT_CODES_HELP,
        description="Migrate FILE to the --via version and back, and print the deepdiff between the "
                    "original and the result: empty (exit 0) when nothing was lost.")
    roundtrip.add_argument("file", metavar="FILE")
    roundtrip.add_argument("--via", required=True, metavar="VERSION")
    roundtrip.add_argument("--fhir-version", default="R4", metavar="VERSION", help="the file's version; default R4")
    roundtrip.set_defaults(run=run_roundtrip)
    return parser


# -- convert and migrate: the bulk pipeline ----------------------------------------------------

def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace, plan, default_format: str) -> Settings:
    rejects = Path(args.rejects) if args.rejects else default_rejects_path(args.output)
    report = Path(args.report) if args.report else None
    refuse_inputs([rejects, report], plan.files)
    output = None if args.output in (None, "-") else Path(args.output).resolve()
    for extra in (rejects, report):
        if extra is not None and output is not None and extra.resolve() == output:
            raise UsageError(f"{extra}: is also the output; give --rejects/--report another name")
    jobs = 1 if plan.single_document else (args.jobs or _default_jobs())
    return Settings(jobs=jobs, bundle=args.bundle, rejects=rejects, report=report,
                    quiet=args.quiet, default_format=default_format)


def _run(args: argparse.Namespace, work: Work, to: str | None, default_format: str) -> int:
    plan = plan_jobs(args.inputs, args.output, to=to, default=default_format, bundle=args.bundle)
    settings = _settings(args, plan, default_format)
    result = run_bulk(plan, work, settings, stdin=sys.stdin.buffer, messages=_stderr)
    tally = result.tally
    where = f"; rejects in {result.rejects_file}" if result.rejects_file else ""
    unreadable = f", {result.unreadable} input(s) unreadable" if result.unreadable else ""
    _stderr(f"fhirconv: {tally.summary()}{unreadable}{where}")
    return EXIT_FAILED if tally.rejected or result.unreadable else EXIT_OK


def run_convert(args: argparse.Namespace) -> int:
    api.Converter(fhir_version=args.fhir_version)       # an unknown version is a usage error, up front
    work = Work("convert", args.fhir_version, pretty=not args.compact, keep_comments=args.keep_comments,
                report=bool(args.report), narrative=args.narrative)
    return _run(args, work, args.to, "other")


def run_migrate(args: argparse.Namespace) -> int:
    try:
        # A version pair without mapping tables is a usage error, said once, not once per record.
        api.migrate({"resourceType": "Basic"}, source=args.source, target=args.target)
    except FhirConvError as err:
        raise UsageError(err.message) from None
    work = Work("migrate", args.source, args.target, pretty=not args.compact, strict=args.strict,
                report=bool(args.report), keep_invalid=args.keep_invalid, narrative=args.narrative)
    return _run(args, work, args.format, "same")


# -- validate and roundtrip ----------------------------------------------------------------------

def _documents(inputs: list[str]):
    """(label, bytes) for every resource: files, folders' files, NDJSON lines, stdin."""
    for name in inputs:
        if name == "-":
            yield "<stdin>", open_binary(sys.stdin.buffer).read()
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and input_kind(p))
        elif path.is_file():
            files = [path]
        else:
            raise UsageError(f"{name}: no such file or folder")
        for file in files:
            with open(file, "rb") as raw:
                stream = open_binary(raw)
                if input_kind(file) == "ndjson":
                    for first, chunk, _ in read_chunks(stream):
                        for line, record in split_lines(chunk, first)[0]:
                            yield f"{file}:{line}", record
                else:
                    yield str(file), stream.read()


def run_validate(args: argparse.Namespace) -> int:
    api.Converter(fhir_version=args.fhir_version)
    failed = False
    for label, data in _documents(args.inputs):
        try:
            outcome = api.validate(data, fhir_version=args.fhir_version)
        except FhirConvError as err:
            _stderr(f"fhirconv: {label}: {err}")
            failed = True
            continue
        for issue in outcome["issue"]:
            severity = issue.get("severity", "error")
            failed = failed or severity in ("error", "fatal")
            where = ", ".join(issue.get("expression") or ())
            text = issue.get("diagnostics") or issue.get("code", "")
            print(f"{label}: {severity}: {where + ': ' if where else ''}{text}")
    return EXIT_FAILED if failed else EXIT_OK


def run_roundtrip(args: argparse.Namespace) -> int:
    try:
        data = open_binary(sys.stdin.buffer).read() if args.file == "-" else open_binary(open(args.file, "rb")).read()
    except OSError as err:
        raise UsageError(f"{args.file}: {err.strerror or err}") from None
    try:
        result = api.roundtrip(data, fhir_version=args.fhir_version, via=args.via)
    except FhirConvError as err:
        _stderr(f"fhirconv: {args.file}: {err}")
        return EXIT_FAILED
    if result.identical:
        _stderr(f"fhirconv: {args.file}: identical after {args.fhir_version} -> {args.via} -> {args.fhir_version}")
        return EXIT_OK
    print(result.diff.pretty())
    return EXIT_FAILED


# -- entry point ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.run(args)
    except UsageError as err:
        _stderr(f"fhirconv: error: {err}")
        return EXIT_USAGE
    except UnsupportedVersionError as err:
        _stderr(f"fhirconv: error: {err}")
        return EXIT_USAGE
    except FhirConvError as err:
        _stderr(f"fhirconv: error: {err}")
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`fhirconv ... | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Terminated:
        _stderr("fhirconv: terminated; no partial output was kept")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _stderr("fhirconv: interrupted; no partial output was kept")
        return EXIT_INTERRUPTED
    except Exception as err:   # a defect, not bad input: one line, unless asked for the traceback
        if os.environ.get("FHIRCONV_DEBUG"):
            raise
        _stderr(f"fhirconv: internal error: {type(err).__name__}: {err} (FHIRCONV_DEBUG=1 shows the traceback; "
                f"please report it)")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["main", "build_parser"]
