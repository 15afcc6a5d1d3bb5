"""``hiegate convert``: one output per input (same base names included), stats lines, exit statuses."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fhir_facade.ccda.cli import output_paths
from gateway.cli import main
from tests.fhir_facade.ccda.helpers import fixture_bytes


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    paths = [
        tmp_path / "in" / "a" / "doc.xml",
        tmp_path / "in" / "b" / "doc.xml",
        tmp_path / "in" / "doc.XML",
    ]
    for path, name in zip(
        paths,
        ["synthetic_ccd.xml", "synthetic_no_known_allergies.xml", "synthetic_unstructured.xml"],
        strict=True,
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(fixture_bytes(name))
    return paths


def test_same_base_names_get_distinct_outputs(
    inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["convert", *map(str, inputs), "--out", str(out), "--stats"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert written == ["a/doc.xml.json", "b/doc.xml.json", "doc.XML.json"]
    bundle = orjson.loads((out / "a" / "doc.xml.json").read_bytes())
    assert bundle["resourceType"] == "Bundle"
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == list(map(str, inputs))
    assert all(line["ok"] and line["resources"] > 3 and line["ms"] > 0 for line in lines)
    assert set(lines[0]) == {"file", "ok", "resources", "ms", "issues"}


def test_bundles_to_stdout_and_unreadable_inputs(
    inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    fragment = tmp_path / "fragment.xml"
    fragment.write_bytes(b'<section xmlns="urn:hl7-org:v3"/>')
    status = main(["convert", str(inputs[0]), str(tmp_path / "missing.xml"), str(fragment), "--stats"])
    assert status == 1
    captured = capsys.readouterr()
    bundles = [orjson.loads(line) for line in captured.out.splitlines()]
    assert [b["resourceType"] for b in bundles] == ["Bundle"]
    stats = [orjson.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    assert [s["ok"] for s in stats] == [True, False, False]
    assert "HG-7001" in captured.err
    assert "cannot read" in captured.err


def test_output_paths_mirror_the_common_folder(tmp_path: Path) -> None:
    files = [tmp_path / "x" / "1.xml", tmp_path / "y" / "z" / "1.xml"]
    assert output_paths(files, tmp_path / "o") == {
        files[0]: tmp_path / "o" / "x" / "1.xml.json",
        files[1]: tmp_path / "o" / "y" / "z" / "1.xml.json",
    }


def test_out_help_describes_the_mirrored_paths(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "one <name>.json" not in shown
    # The same layout test_same_base_names_get_distinct_outputs observes on disk.
    assert "a/ccd.xml and b/ccd.xml give DIR/a/ccd.xml.json and DIR/b/ccd.xml.json" in shown
