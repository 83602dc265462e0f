"""The command line as a user meets it: files, folders, pipes, exit codes and one-line errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import fhirconv
from fhirconv.progress import Progress, Tally

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
R4 = FIXTURES / "r4"
PACKAGE_ROOT = str(Path(fhirconv.__file__).resolve().parent.parent)


def cli(*args, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    env.pop("FHIRCONV_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "fhirconv", *map(str, args)], cwd=cwd, env=env, input=stdin,
                          capture_output=True, timeout=120)


def stderr_lines(run) -> list[str]:
    return run.stderr.decode().strip().splitlines()


def test_convert_a_file_to_stdout(tmp_path):
    run = cli("convert", R4 / "imagingstudy-example.xml", "--to", "json", cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout == (R4 / "imagingstudy-example.json").read_bytes() or \
        orjson.loads(run.stdout) == orjson.loads((R4 / "imagingstudy-example.json").read_bytes())
    assert stderr_lines(run)[-1].startswith("fhirconv: 1 read, 1 written, 0 rejected, 0 warnings in ")


def test_convert_a_file_to_a_file_takes_the_format_from_its_name(tmp_path):
    run = cli("convert", R4 / "imagingstudy-example.json", "-o", "out.xml", cwd=tmp_path)
    assert run.returncode == 0
    out = tmp_path / "out.xml"
    assert out.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ImagingStudy')
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())    # an ordinary file, not 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xml"]     # no temp file left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_convert_a_folder_into_a_folder(tmp_path):
    run = cli("convert", R4, "--to", "xml", "-o", "out", cwd=tmp_path)
    made = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert "imagingstudy-example.xml" in made and "third-party/qicore-ImagingStudy-example.xml" in made
    # the Synthea NDJSON becomes a folder of one document per record
    assert any(name.startswith("third-party/synthea-ImagingStudy/ImagingStudy-") for name in made)
    # one bad file in the folder (the SIIM hackathon file is not valid R4): named on one line, exit 1
    assert run.returncode == 1
    failures = [line for line in stderr_lines(run) if "siim-hackathon" in line]
    assert len(failures) == 1
    assert "ImagingStudy.series[0].instance[0].sopClass (line 55, column 23): expected an object" in failures[0]


def test_stdin_to_stdout(tmp_path):
    data = (R4 / "imagingstudy-example.json").read_bytes()
    run = cli("convert", "-", "--to", "xml", cwd=tmp_path, stdin=data)
    assert run.returncode == 0
    assert fhirconv.convert(run.stdout, to="json") == fhirconv.convert(data, to="json")


def test_a_single_compact_resource_on_stdin_is_a_document_not_ndjson(tmp_path):
    compact = fhirconv.convert((R4 / "imagingstudy-example.json").read_bytes(), to="json", pretty=False)
    run = cli("convert", "-", "--to", "xml", cwd=tmp_path, stdin=compact)
    assert run.returncode == 0 and run.stdout.startswith(b"<?xml")


def test_error_is_one_line_with_file_path_position_and_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"resourceType": "ImagingStudy",\n  "status": "available",\n  "subject": {"refrence": "x"}}')
    run = cli("convert", bad, "-o", "bad.xml", cwd=tmp_path)
    assert run.returncode == 1
    first, summary = stderr_lines(run)
    assert first.startswith(f"fhirconv: {bad}: ImagingStudy.subject.refrence (line 3, column ")
    assert "refrence" in first and "Traceback" not in run.stderr.decode()
    assert summary.startswith("fhirconv: 1 read, 0 written, 1 rejected")
    assert not (tmp_path / "bad.xml").exists()


@pytest.mark.parametrize("args", [
    ["convert", "no-such-file.json"],
    ["convert", str(R4 / "imagingstudy-example.json"), "--fhir-version", "R9"],
    ["convert", str(R4 / "imagingstudy-example.json"), "--jobs", "0"],
    ["migrate", "--from", "R4", str(R4 / "imagingstudy-example.json")],
    ["convert", str(R4), "-o", str(R4 / "converted")],          # output inside the input folder
    ["convert", str(R4), "--to", "xml"],                         # a folder needs -o FOLDER
    ["frobnicate"],
    [],
])
def test_usage_errors_exit_2(tmp_path, args):
    run = cli(*args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert b"Traceback" not in run.stderr


def test_an_input_file_is_never_overwritten(tmp_path):
    source = tmp_path / "study.json"
    source.write_bytes((R4 / "imagingstudy-example.json").read_bytes())
    run = cli("convert", source, "--to", "json", "-o", source, cwd=tmp_path)
    assert run.returncode == 2 and b"refusing to overwrite an input file" in run.stderr
    assert source.read_bytes() == (R4 / "imagingstudy-example.json").read_bytes()


def test_a_closed_pipe_is_quiet(tmp_path):
    many = tmp_path / "many.ndjson"
    line = fhirconv.convert((R4 / "imagingstudy-example.json").read_bytes(), to="json", pretty=False)
    many.write_bytes((line + b"\n") * 3000)
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    shell = f"'{sys.executable}' -m fhirconv convert '{many}' --to json | head -c 100 > /dev/null"
    run = subprocess.run(["bash", "-o", "pipefail", "-c", shell], env=env, capture_output=True, timeout=120)
    assert run.stderr == b"", run.stderr
    assert run.returncode == 0


def test_migrate_a_single_xml_file_keeps_xml(tmp_path):
    run = cli("migrate", "--from", "R4", "--to", "R6", R4 / "imagingstudy-example.xml", "-o", "r6.xml",
              "--report", "report.ndjson", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    r6 = (tmp_path / "r6.xml").read_bytes()
    assert r6.startswith(b"<?xml")
    issues = fhirconv.validate(r6, fhir_version="R6")["issue"]
    assert all(i["severity"] not in ("error", "fatal") for i in issues), issues
    (outcome,) = [orjson.loads(x) for x in (tmp_path / "report.ndjson").read_bytes().splitlines()]
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]


def test_migrate_strict_rejects_anything_but_a_plain_copy(tmp_path):
    run = cli("migrate", "--from", "R4", "--to", "R6", "--strict", R4 / "imagingstudy-example.json",
              "-o", "out.json", cwd=tmp_path)
    assert run.returncode == 1 and not (tmp_path / "out.json").exists()
    assert b"strict migration refused" in run.stderr


def test_validate(tmp_path):
    good = cli("validate", R4 / "imagingstudy-example.json", cwd=tmp_path)
    assert good.returncode == 0 and b"valid FHIR R4" in good.stdout
    bad = cli("validate", "--fhir-version", "R6", R4 / "imagingstudy-example.json", cwd=tmp_path)
    assert bad.returncode == 1 and b"Traceback" not in bad.stderr


def test_roundtrip(tmp_path):
    run = cli("roundtrip", "--via", "R6", R4 / "imagingstudy-example.json", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert b"identical after R4 -> R6 -> R4" in run.stderr and run.stdout == b""
    bad = cli("roundtrip", "--via", "R6", R4 / "third-party" / "siim-hackathon-imaging_study-159774597.json",
              cwd=tmp_path)
    assert bad.returncode == 1 and b"sopClass" in bad.stderr and b"Traceback" not in bad.stderr


def test_no_progress_bar_when_not_a_terminal(tmp_path):
    run = cli("convert", R4 / "imagingstudy-example.json", "-o", "x.xml", cwd=tmp_path)
    assert len(stderr_lines(run)) == 1 and b"\r" not in run.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_and_silence_when_quiet():
    screen = _Terminal()
    progress = Progress(total_bytes=1000, quiet=False, stream=screen)
    time.sleep(0.25)                    # tqdm redraws at most every 0.1 s
    progress.advance(records=10, nbytes=500)
    progress.close()
    assert "records/s" in screen.getvalue() and "10 records" in screen.getvalue()
    quiet = _Terminal()
    progress = Progress(total_bytes=1000, quiet=True, stream=quiet)
    progress.advance(records=10, nbytes=500)
    progress.close()
    assert quiet.getvalue() == ""


def test_summary_counts_add_up():
    tally = Tally()
    tally.add(Tally(read=5, written=3, rejected=2, warnings=7))
    assert tally.summary().startswith("5 read, 3 written, 2 rejected, 7 warnings in ")
