"""The ``fhirconv`` command. The only module that prints or exits.

Exit codes (also in ``--help`` and the README):
  0  everything converted
  1  some input failed (one line on stderr per failure: file, element path, line/column, reason)
  2  usage error (bad options, missing files)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .api import Converter, sniff_format
from .errors import FhirConvError
from .outputs import AtomicFile, OutputPlan, UsageError, plan_outputs

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EXIT_CODES_HELP = """exit codes:
  0  all input converted
  1  some input failed (one stderr line per failure: file, element path, line/column, reason)
  2  usage error
"""


def _report(prog: str, source: str, err: FhirConvError) -> None:
    print(f"{prog}: {source}: {err}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fhirconv", description="Lossless FHIR JSON <-> XML conversion and version migration.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"fhirconv {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    convert = commands.add_parser(
        "convert", help="convert FHIR resources between JSON and XML",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXIT_CODES_HELP,
        description="Convert FHIR resources between JSON and XML without losing anything. "
                    "INPUT is a file, a folder (every .json/.xml in it) or - for stdin.")
    convert.add_argument("inputs", nargs="+", metavar="INPUT")
    convert.add_argument("-o", "--output", metavar="OUT",
                         help="output file, or folder for several inputs (default: stdout)")
    convert.add_argument("-t", "--to", choices=("json", "xml"),
                         help="output format (default: from OUT's extension, else the other format)")
    convert.add_argument("--fhir-version", default="R4", metavar="VERSION",
                         help="R4, R5 or R6 (or 4.0.1, 5.0.0, 6.0.0-ballot3); default R4")
    convert.add_argument("--compact", action="store_true", help="no indentation")
    convert.add_argument("--keep-comments", action="store_true",
                         help="carry XML comments into JSON as fhir_comments (off: comments are not content)")
    convert.set_defaults(run=run_convert)
    return parser


def run_convert(args: argparse.Namespace) -> int:
    converter = Converter(fhir_version=args.fhir_version, pretty=not args.compact,
                          keep_comments=args.keep_comments)
    plan: OutputPlan = plan_outputs(args.inputs, args.output, args.to)
    failures = 0
    for job in plan.jobs:
        try:
            data = job.read()
            target_format = job.target_format or ("xml" if sniff_format(data) == "json" else "json")
            result = converter.convert(data, to=target_format)
        except FhirConvError as err:
            _report("fhirconv", job.label, err)
            failures += 1
            continue
        except OSError as err:
            print(f"fhirconv: {job.label}: cannot read: {err.strerror or err}", file=sys.stderr)
            failures += 1
            continue
        job.write(result, target_format)
    return EXIT_FAILED if failures else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as err:
        print(f"fhirconv: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except FhirConvError as err:
        print(f"fhirconv: error: {err}", file=sys.stderr)
        return EXIT_USAGE if err.__class__.__name__ == "UnsupportedVersionError" else EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`fhirconv ... | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("fhirconv: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "Path", "AtomicFile"]
