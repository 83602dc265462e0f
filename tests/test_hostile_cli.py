"""The command line on hostile input (issue 6): one line per failure, exit 1, never a traceback,
and a bulk NDJSON run with hostile records mixed in accounts for every line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "fixtures" / "hostile"
MANIFEST = tomllib.loads((HOSTILE / "manifest.toml").read_text())["case"]


def _fhirconv(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fhirconv", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=120)


@pytest.mark.parametrize("folder, to", [("xml", "json"), ("json", "xml")])
def test_a_folder_of_hostile_files_gives_one_line_per_failure_and_exit_1(tmp_path, folder, to):
    run = _fhirconv("convert", str(HOSTILE / folder), "-o", str(tmp_path / "out"), "-t", to, "-q", cwd=tmp_path)
    assert run.returncode == 1
    stderr = run.stderr.decode()
    assert "Traceback" not in stderr
    failures = [line for line in stderr.splitlines() if str(HOSTILE / folder) in line]
    # Every case the manifest expects to fail (on reading or on writing) is one line, naming its file.
    expected = sorted(c["file"].split("/")[1] for c in MANIFEST if c["file"].startswith(folder) and "error" in c)
    named = sorted(line.split(": ", 2)[1].rpartition("/")[2] for line in failures)
    assert named == expected
    assert all(line.startswith("fhirconv: ") and len(line) < 400 for line in failures)
    # Only the accepted ones were written.
    accepted = sorted(c["file"].split("/")[1].rpartition(".")[0] for c in MANIFEST
                      if c["file"].startswith(folder) and c.get("outcome") == "accepted")
    assert sorted(p.stem for p in (tmp_path / "out").iterdir()) == accepted


def _hostile_records() -> list[bytes]:
    """NDJSON lines that must each be rejected, without stopping the run."""
    deep = b'{"resourceType":"Patient","extension":' + b"[" * 5000 + b"]" * 5000 + b"}"
    records = [
        b'{"resourceType":"Patient","id":"a","id":"b"}', b'{"resourceType":"Patient"', b"not json",
        b"[1,2]", b'{"resourceType":"Patient","name":[{"family":"a\xffb"}]}', deep,
        b'{"resourceType":"Patient","id":"a\\ud800"}', b'{"resourceType":"Nope"}',
        b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":NaN}}',
        b'{"resourceType":"Patient","meta":{}}', b'{"resourceType":"Patient","":1}',
        b'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]>'
        b'<Patient xmlns="http://hl7.org/fhir"/>',
    ]
    for case in MANIFEST:  # every JSON corpus case that fails on reading, as one line
        if case["file"].startswith("json/") and "error" in case and case.get("line", 0):
            text = (HOSTILE / case["file"]).read_bytes().replace(b"\r", b"").replace(b"\n", b" ")
            records.append(text)
    return records


def test_a_bulk_ndjson_run_with_hostile_records_accounts_for_every_line(tmp_path):
    twins = {}
    with tarfile.open(ROOT / "fixtures" / "official" / "r4-twins.tgz") as archive:
        for member in archive:  # in archive order: a gzip stream cannot seek back
            if member.isfile() and member.name.endswith(".json") and member.size < 20_000:
                twins[member.name] = archive.extractfile(member).read()
    good = [json.dumps(json.loads(twins[name])).encode() for name in sorted(twins)[:300]]
    bad = _hostile_records()
    lines, bad_lines = [], set()
    for i, record in enumerate(good):
        lines.append(record)
        if i % 10 == 5 and bad:
            lines.append(bad.pop())
            bad_lines.add(len(lines))
    for record in bad:
        lines.append(record)
        bad_lines.add(len(lines))
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(lines) + b"\n")

    run = _fhirconv("convert", "in.ndjson", "-o", "out.ndjson", "--rejects", "rejects.ndjson", "-q", cwd=tmp_path)
    assert run.returncode == 1, run.stderr.decode()
    assert "Traceback" not in run.stderr.decode()
    written = (tmp_path / "out.ndjson").read_bytes().splitlines()
    rejects = [json.loads(line) for line in (tmp_path / "rejects.ndjson").read_bytes().splitlines()]
    # Output + rejects account for every line; the rejected ones are exactly the hostile ones.
    assert len(written) + len(rejects) == len(lines)
    assert {r["line"] for r in rejects} == bad_lines
    assert all(r["reason"] and "record" in r for r in rejects)
    for line in written:  # and what was written is FHIR JSON
        assert json.loads(line)["resourceType"]
