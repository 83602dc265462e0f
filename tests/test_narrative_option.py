"""``--narrative keep|report|refuse`` on convert and migrate, and narratives in ``validate``.

The narrative is HTML someone will render, and FHIR allows only basic formatting in it (txt-1).
fhirconv never changes it (lossless), but on request it reports what txt-1 forbids, and refuses
records whose narrative could run or load something. The records are the official examples with
their narrative replaced.
"""

from __future__ import annotations

import orjson
import pytest

from test_cli import R4, cli, stderr_lines

XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'
DIVS = {
    "clean": f'<div {XHTML}><p>Knee <b>X-ray</b></p></div>',
    "script": f'<div {XHTML}><p>hi</p><script>alert(1)</script></div>',
    "font": f'<div {XHTML}><font color="red">old markup</font></div>',
}


def _with_div(name: str, div: str) -> dict:
    resource = orjson.loads((R4 / name).read_bytes())
    resource["id"] = f"{resource['id']}-{len(div)}"
    resource["text"] = {"status": "generated", "div": div}
    return resource


@pytest.fixture()
def ndjson(tmp_path):
    lines = [orjson.dumps(_with_div("patient-example-dicom.json", div)) for div in DIVS.values()]
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path / "in.ndjson"


def _outcomes(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _issues(outcome: dict) -> list[str]:
    return [f"{i['severity']} {i['diagnostics']}" for i in outcome["issue"] if "narrative" in i["diagnostics"]]


def test_keep_is_the_default_and_writes_every_narrative_unchecked(ndjson, tmp_path):
    run = cli("convert", ndjson, "-o", "out.ndjson", "--to", "json", "--report", "report.ndjson", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = [orjson.loads(line)["text"]["div"] for line in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    assert written == list(DIVS.values())
    outcomes = _outcomes(tmp_path / "report.ndjson")
    assert len(outcomes) == 3 and not any(_issues(o) for o in outcomes)
    assert ", 0 warnings in " in stderr_lines(run)[-1]


def test_report_writes_every_record_and_reports_what_txt1_forbids(ndjson, tmp_path):
    run = cli("convert", ndjson, "-o", "out.ndjson", "--to", "json", "--narrative", "report",
              "--report", "report.ndjson", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert len((tmp_path / "out.ndjson").read_bytes().splitlines()) == 3
    clean, script, font = (_issues(o) for o in _outcomes(tmp_path / "report.ndjson"))
    assert clean == []
    assert script == ["error <script> at div/script is not allowed in a FHIR narrative (txt-1) and may run or "
                      "load content when rendered"]
    assert font == ["warning <font> at div/font is not allowed in a FHIR narrative (txt-1)",
                    "warning attribute color on <font> at div/font is not allowed in a FHIR narrative (txt-1)"]
    assert ", 3 warnings in " in stderr_lines(run)[-1]


def test_refuse_rejects_a_narrative_that_could_run_and_writes_the_rest(ndjson, tmp_path):
    run = cli("convert", ndjson, "-o", "out.ndjson", "--to", "json", "--narrative", "refuse", cwd=tmp_path)
    assert run.returncode == 1
    written = [orjson.loads(line)["text"]["div"] for line in (tmp_path / "out.ndjson").read_bytes().splitlines()]
    assert written == [DIVS["clean"], DIVS["font"]]          # a warning alone does not refuse
    [reject] = _outcomes(tmp_path / "out.rejects.ndjson")
    assert reject["line"] == 2 and reject["path"] == "Patient.text.div" and "<script>" in reject["reason"]
    assert orjson.loads(reject["record"])["text"]["div"] == DIVS["script"]
    assert "3 read, 2 written, 1 rejected" in stderr_lines(run)[-1]


def test_migrate_refuses_an_imagingstudy_whose_narrative_has_a_script(tmp_path):
    study = _with_div("imagingstudy-example.json", DIVS["script"])
    (tmp_path / "study.json").write_bytes(orjson.dumps(study))
    refused = cli("migrate", "--from", "R4", "--to", "R6", "study.json", "-o", "r6.json",
                  "--narrative", "refuse", cwd=tmp_path)
    assert refused.returncode == 1 and not (tmp_path / "r6.json").exists()
    assert "ImagingStudy.text.div" in refused.stderr.decode() and "<script>" in refused.stderr.decode()
    kept = cli("migrate", "--from", "R4", "--to", "R6", "study.json", "-o", "r6.json", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert orjson.loads((tmp_path / "r6.json").read_bytes())["text"]["div"] == DIVS["script"]


def test_validate_reports_the_narrative(ndjson, tmp_path):
    run = cli("validate", ndjson, cwd=tmp_path)
    assert run.returncode == 1
    lines = run.stdout.decode().splitlines()
    assert lines[0] == f"{ndjson}:1: information: valid FHIR R4"
    assert lines[1].startswith(f"{ndjson}:2: error: Patient.text.div: <script> at div/script")
    assert [line.split(": ")[1] for line in lines[2:]] == ["warning", "warning"]
