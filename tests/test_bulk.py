"""Bulk runs through the real command: generated NDJSON of tens of thousands of ImagingStudy
(tests/generate.py) with bad lines mixed in, plain and gzipped, one and two jobs, interrupted.

Every assertion is about what a data team relies on: each input line ends in the output or in
the rejects (with its line number, raw text and reason), order is kept, the bytes do not depend
on --jobs, and an interrupted run leaves nothing under the destination's name.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import fhirconv
import generate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PACKAGE_ROOT = str(Path(fhirconv.__file__).resolve().parent.parent)
RECORDS = 20_000
GZ_RECORDS = 4_000
BAD_EVERY = 97


def _env(temp: Path | None) -> dict:
    """The run's environment; ``temp``: its own temporary folder (where the workers spool results)."""
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    if temp is not None:
        temp.mkdir(exist_ok=True)
        env["TMPDIR"] = str(temp)
    return env


def fhirconv_cli(*args, cwd: Path, stdin: bytes | None = None, timeout: float = 300,
                 temp: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fhirconv", *map(str, args)], cwd=cwd, env=_env(temp),
                          input=stdin, capture_output=True, timeout=timeout)


def popen(*args, cwd: Path, temp: Path | None = None) -> subprocess.Popen:
    env = _env(temp)
    # The run gets Ctrl-C's default action however the tests were started: a shell's background
    # job (``cmd &`` without job control) ignores SIGINT, as POSIX says, and the child would inherit
    # that and rightly ignore the test's SIGINT too.
    return subprocess.Popen([sys.executable, "-m", "fhirconv", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """The same generated records as plain and gzipped NDJSON, and what each line is."""
    folder = tmp_path_factory.mktemp("corpus")
    plain, packed = folder / "studies.ndjson", folder / "studies.ndjson.gz"
    # Small studies (<= 2 series of <= 3 instances) keep the runs short; bench/ uses full-size ones.
    kinds = generate.write(plain, RECORDS, bad_every=BAD_EVERY, max_series=2, max_instances=3)
    lines = plain.read_bytes().split(b"\n")[:-1]
    # the gzipped file holds the first GZ_RECORDS lines, enough for many chunks
    packed.write_bytes(gzip.compress(b"\n".join(lines[:GZ_RECORDS]) + b"\n"))
    return {"plain": plain, "gz": packed, "kinds": kinds, "lines": lines}


@pytest.fixture(scope="module")
def migrated(corpus, tmp_path_factory) -> dict:
    """One migration of the plain file with one job: the reference the other runs compare with."""
    folder = tmp_path_factory.mktemp("one-job")
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", corpus["plain"], "-o", "out.ndjson",
                       "--report", "report.ndjson", "--jobs", "1", cwd=folder)
    return {"run": run, "folder": folder, "out": (folder / "out.ndjson").read_bytes(),
            "rejects": (folder / "out.rejects.ndjson").read_bytes(),
            "report": (folder / "report.ndjson").read_bytes()}


def _ids(ndjson: bytes) -> list[str]:
    return [orjson.loads(line)["id"] for line in ndjson.splitlines()]


def test_every_line_is_written_or_rejected_in_order(corpus, migrated):
    run = migrated["run"]
    assert run.returncode == 1, run.stderr            # some lines were rejected
    kinds = corpus["kinds"]
    good = [number for number, (ok, _) in enumerate(kinds, 1) if ok]
    bad = [number for number, (ok, _) in enumerate(kinds, 1) if not ok]
    assert _ids(migrated["out"]) == [f"study-{n}" for n in good]
    rejects = [orjson.loads(line) for line in migrated["rejects"].splitlines()]
    assert [r["line"] for r in rejects] == bad
    for reject in rejects:
        assert reject["record"].encode() == corpus["lines"][reject["line"] - 1]
        assert reject["file"].endswith("studies.ndjson") and reject["reason"]
    summary = run.stderr.decode().strip().splitlines()[-1]
    assert f"{RECORDS} read, {len(good)} written, {len(bad)} rejected" in summary, summary


def test_each_kind_of_bad_line_is_rejected_with_its_reason(corpus, migrated):
    reasons = {}
    for line in migrated["rejects"].splitlines():
        reject = orjson.loads(line)
        reasons.setdefault(corpus["kinds"][reject["line"] - 1][1], reject)
    assert set(reasons) == set(generate.BAD_KINDS)
    assert "not valid JSON" in reasons["json"]["reason"]
    assert "ImagingStudie" in reasons["resourceType"]["reason"]
    assert reasons["structure"]["path"] == "ImagingStudy.series[0].instance[0].sopClass"
    assert "ist-1" in reasons["ist-1"]["reason"]
    # one stderr line per reject: file, element path, line/column, reason
    first_structure = reasons["structure"]["line"]
    expected = (f"fhirconv: {corpus['plain']}: ImagingStudy.series[0].instance[0].sopClass "
                f"(line {first_structure}, column {reasons['structure']['column']}): ")
    assert expected in migrated["run"].stderr.decode()


def test_the_report_has_one_outcome_per_record_with_line_and_id(corpus, migrated):
    outcomes = [orjson.loads(line) for line in migrated["report"].splitlines()]
    assert len(outcomes) == RECORDS
    for number, outcome in enumerate(outcomes, 1):
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]
        source = {part["url"]: next(v for k, v in part.items() if k.startswith("value"))
                  for part in outcome["extension"][0]["extension"]}
        assert source["line"] == number
        if corpus["kinds"][number - 1][1] != "json":     # broken JSON has no id to name
            assert source["id"] == f"study-{number}"


def test_migrated_records_are_r6(migrated):
    first = orjson.loads(migrated["out"].split(b"\n", 1)[0])
    assert fhirconv.validate(first, fhir_version="R6")["issue"][0]["severity"] == "information"
    assert "coding" in first["modality"][0]          # R6: CodeableConcept, not R4's Coding


def test_two_jobs_give_the_same_bytes(corpus, migrated, tmp_path):
    # (the workers read their chunks from the file and hand their output back as spool files)
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", corpus["plain"], "-o", "out.ndjson",
                       "--report", "report.ndjson", "--jobs", "2", cwd=tmp_path, temp=tmp_path / "temp")
    assert run.returncode == 1
    assert (tmp_path / "out.ndjson").read_bytes() == migrated["out"]
    assert (tmp_path / "out.rejects.ndjson").read_bytes() == migrated["rejects"]
    assert (tmp_path / "report.ndjson").read_bytes() == migrated["report"]
    assert list((tmp_path / "temp").iterdir()) == []        # no spool folder left behind


def test_two_jobs_without_a_report_cut_the_file_themselves_and_give_the_same_bytes(corpus, migrated, tmp_path):
    # Without --report the main process never reads the file: each worker reads a byte block
    # and numbers its lines from 1; the main process shifts the numbers. Output, rejects and the
    # stderr lines (line and column of each reject) are those of the one-job run.
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", corpus["plain"], "-o", "out.ndjson",
                       "--jobs", "2", cwd=tmp_path, temp=tmp_path / "temp")
    assert run.returncode == 1
    assert (tmp_path / "out.ndjson").read_bytes() == migrated["out"]
    assert (tmp_path / "out.rejects.ndjson").read_bytes() == migrated["rejects"]
    assert run.stderr.splitlines()[:-1] == migrated["run"].stderr.splitlines()[:-1]   # all but the timing
    assert list((tmp_path / "temp").iterdir()) == []


@pytest.mark.parametrize("bundle", [False, True])
def test_gzip_output_of_a_file_without_a_final_newline_is_the_same_with_two_jobs(corpus, tmp_path, bundle):
    # Each piece of lines is its own gzip member, so the pieces must not depend on --jobs; the
    # unterminated last line is a piece of its own whoever reads it.
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(corpus["lines"]))
    name = "out.json.gz" if bundle else "out.ndjson.gz"
    outputs = []
    for jobs in ("1", "2"):
        run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", "in.ndjson", "-o", f"{jobs}-{name}",
                           *(["--bundle"] if bundle else []), "--rejects", f"{jobs}.rejects", "--jobs", jobs,
                           cwd=tmp_path)
        assert run.returncode == 1, run.stderr
        outputs.append(((tmp_path / f"{jobs}-{name}").read_bytes(), (tmp_path / f"{jobs}.rejects").read_bytes()))
    assert outputs[0] == outputs[1]
    assert len(outputs[0][0].split(b"\x1f\x8b\x08")) > 10        # many members, from many pieces
    unpacked = gzip.decompress(outputs[0][0])
    last = orjson.loads(unpacked)["entry"][-1]["resource"] if bundle else orjson.loads(unpacked.splitlines()[-1])
    assert corpus["kinds"][-1][0] and last["id"] == f"study-{RECORDS}"      # the unterminated line is there


def test_two_jobs_to_a_pipe_and_to_a_bundle_give_the_same_records(corpus, migrated, tmp_path):
    # stdout a pipe: spool files are copied through user space, not by the kernel
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", corpus["plain"], "--jobs", "2", cwd=tmp_path)
    assert run.stdout == migrated["out"]
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", corpus["plain"], "--bundle", "-o", "all.json",
                       "--jobs", "2", cwd=tmp_path)
    entries = orjson.loads((tmp_path / "all.json").read_bytes())["entry"]
    assert [e["resource"] for e in entries] == [orjson.loads(line) for line in migrated["out"].splitlines()]


def test_gzip_in_and_out(corpus, migrated, tmp_path):
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", corpus["gz"], "-o", "out.ndjson.gz",
                       "--rejects", "bad.ndjson", "--jobs", "2", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    packed = (tmp_path / "out.ndjson.gz").read_bytes()
    assert packed[:2] == b"\x1f\x8b"
    kept = sum(1 for ok, _ in corpus["kinds"][:GZ_RECORDS] if ok)
    assert gzip.decompress(packed) == b"".join(migrated["out"].splitlines(keepends=True)[:kept])
    rejects = [orjson.loads(line) for line in (tmp_path / "bad.ndjson").read_bytes().splitlines()]
    expected = [orjson.loads(line) for line in migrated["rejects"].splitlines()][:GZ_RECORDS - kept]
    assert [(r["line"], r["record"], r["reason"]) for r in rejects] == \
           [(r["line"], r["record"], r["reason"]) for r in expected]


def test_stdin_to_stdout_streams_gzip_and_ndjson(corpus, migrated, tmp_path):
    lines = b"\n".join(corpus["lines"][:500]) + b"\n"
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", "-", "--rejects", "bad.ndjson",
                       stdin=gzip.compress(lines), cwd=tmp_path)
    kept = sum(1 for ok, _ in corpus["kinds"][:500] if ok)
    assert run.stdout == b"".join(migrated["out"].splitlines(keepends=True)[:kept])
    assert len((tmp_path / "bad.ndjson").read_bytes().splitlines()) == 500 - kept


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_leaves_no_output(corpus, tmp_path, sig, code):
    temp = tmp_path.parent / f"{tmp_path.name}-temp"
    process = popen("migrate", "--from", "R4", "--to", "R6", corpus["plain"], "-o", "out.ndjson",
                    "--report", "report.ndjson", "--jobs", "2", cwd=tmp_path, temp=temp)
    deadline = time.monotonic() + 60
    # Wait until the run is writing (its temporary file beside the destination has data).
    while time.monotonic() < deadline:
        parts = [p for p in tmp_path.iterdir() if p.name.startswith(".out.ndjson.") and p.stat().st_size]
        if parts:
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the run never started writing")
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert b"Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []      # no output, no report, no temp file
    assert list(temp.iterdir()) == []                              # no spool folder


def test_ndjson_to_xml_writes_a_document_per_record(corpus, tmp_path):
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(corpus["lines"][:200]) + b"\n")
    run = fhirconv_cli("convert", "in.ndjson", "--to", "xml", "-o", "xml", cwd=tmp_path)
    good = [n for n, (ok, kind) in enumerate(corpus["kinds"][:200], 1) if ok or kind == "ist-1"]
    assert run.returncode == 1                      # the broken lines among the 200
    names = sorted(p.name for p in (tmp_path / "xml").iterdir())
    assert names == sorted(f"ImagingStudy-study-{n}.xml" for n in good)
    # and back: the folder of documents into one NDJSON, the same records as a JSON normalisation
    back = fhirconv_cli("convert", "xml", "-o", "back.ndjson", cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    direct = fhirconv_cli("convert", "in.ndjson", "-o", "direct.ndjson", cwd=tmp_path)
    assert sorted((tmp_path / "back.ndjson").read_bytes().splitlines()) == \
           sorted((tmp_path / "direct.ndjson").read_bytes().splitlines())


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bundle_on_request(corpus, tmp_path, fmt):
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(corpus["lines"][:50]) + b"\n")
    run = fhirconv_cli("convert", "in.ndjson", "--bundle", "--to", fmt, "-o", f"all.{fmt}", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    bundle = fhirconv.to_json_form(fhirconv.parse((tmp_path / f"all.{fmt}").read_bytes()))
    assert bundle["type"] == "collection"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [f"study-{n}" for n in range(1, 51)]


def test_blank_lines_are_not_records_and_an_empty_input_gives_an_empty_output(corpus, tmp_path):
    (tmp_path / "gaps.ndjson").write_bytes(b"\n" + corpus["lines"][0] + b"\r\n\n  \n" + corpus["lines"][1])
    (tmp_path / "empty.ndjson").write_bytes(b"")
    run = fhirconv_cli("convert", "gaps.ndjson", "-o", "gaps.out.ndjson", cwd=tmp_path)
    assert run.returncode == 0 and b"2 read, 2 written, 0 rejected" in run.stderr
    run = fhirconv_cli("convert", "empty.ndjson", "-o", "empty.out.ndjson", cwd=tmp_path)
    assert run.returncode == 0 and (tmp_path / "empty.out.ndjson").read_bytes() == b""


def test_a_truncated_gzip_is_reported_and_what_was_read_is_kept(corpus, tmp_path):
    packed = corpus["gz"].read_bytes()
    (tmp_path / "cut.ndjson.gz").write_bytes(packed[: len(packed) // 2])
    run = fhirconv_cli("convert", "cut.ndjson.gz", "-o", "out.ndjson", "--jobs", "1", cwd=tmp_path)
    assert run.returncode == 1
    assert b"cut.ndjson.gz: cannot read past line" in run.stderr and b"Traceback" not in run.stderr
    written = len((tmp_path / "out.ndjson").read_bytes().splitlines())
    assert 100 < written < GZ_RECORDS and f"{written} written".encode() in run.stderr


def test_ihe_mado_bundle_migrates_entry_by_entry(tmp_path):
    bundle = FIXTURES / "r4" / "third-party" / "ihe-mado-102-bundle.json"
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", bundle, "-o", "mado.json", "--report", "r.ndjson",
                       "--keep-invalid", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = orjson.loads((tmp_path / "mado.json").read_bytes())
    studies = [e["resource"] for e in result["entry"] if e["resource"]["resourceType"] == "ImagingStudy"]
    assert studies and all("coding" in s["modality"][0] for s in studies)       # migrated to R6
    (outcome,) = [orjson.loads(line) for line in (tmp_path / "r.ndjson").read_bytes().splitlines()]
    expressions = {e for issue in outcome["issue"] for e in issue.get("expression", ())}
    assert any(e.startswith("Bundle.entry[") for e in expressions)              # reported per entry
    # By default a Bundle whose report has an error is not written, and the reason names the entry.
    strict_run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", bundle, "-o", "mado2.json", cwd=tmp_path)
    if strict_run.returncode == 1:
        assert not (tmp_path / "mado2.json").exists()
        assert b"Bundle.entry[" in strict_run.stderr
    else:
        assert strict_run.returncode == 0 and (tmp_path / "mado2.json").exists()


def test_r5_diagnostic_report_with_contained_study(tmp_path):
    report = FIXTURES / "r5" / "DiagnosticReport-f201.json"
    # There are R4 <-> R6 tables only: R5 input is a usage error, said once, before anything runs.
    run = fhirconv_cli("migrate", "--from", "R5", "--to", "R6", report, "-o", "out.json", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.decode().strip() == "fhirconv: error: no mapping tables from R5 to R6 (available: R4 <-> R6)"
    assert not (tmp_path / "out.json").exists()
    # Read as R4, the R5 element is named with its position, and nothing is written.
    run = fhirconv_cli("migrate", "--from", "R4", "--to", "R6", report, "-o", "out.json", cwd=tmp_path)
    assert run.returncode == 1
    assert b'DiagnosticReport.study (line 1, column ' in run.stderr
    assert b'unknown element "study" for FHIR R4' in run.stderr
    assert not (tmp_path / "out.json").exists()
