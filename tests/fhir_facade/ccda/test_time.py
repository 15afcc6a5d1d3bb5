"""TS / IVL_TS: every precision and timezone form, and the broken forms real documents carry."""

from __future__ import annotations

import pytest

from fhir_facade.ccda.datatypes import effective, parse_ts, period, ts
from tests.fhir_facade.ccda.helpers import make_ctx


@pytest.mark.parametrize(
    ("raw", "expected", "lowered"),
    [
        ("2024", "2024", ()),
        ("202403", "2024-03", ()),
        ("20240315", "2024-03-15", ()),
        ("2024031514-0500", "2024-03-15T14:00:00-05:00", ()),
        ("202403151430+0100", "2024-03-15T14:30:00+01:00", ()),
        ("20240315143005-0500", "2024-03-15T14:30:05-05:00", ()),
        ("20240315143005.123+0000", "2024-03-15T14:30:05.123+00:00", ()),
        ("20240315143005Z", "2024-03-15T14:30:05Z", ()),
        ("  20240315  ", "2024-03-15", ()),
        # a time without a zone: FHIR has no local time, so the date is what can be kept
        ("20240315143005", "2024-03-15", ("no-timezone",)),
        # malformed but unambiguous offsets are repaired
        ("20240315143005-500", "2024-03-15T14:30:05-05:00", ("offset-repaired",)),
        ("20240315143005+05", "2024-03-15T14:30:05+05:00", ("offset-repaired",)),
        ("20240315143005+05:30", "2024-03-15T14:30:05+05:30", ("offset-repaired",)),
        # impossible offsets: keep the date
        ("20240315143005+2500", "2024-03-15", ("offset",)),
        ("20240315143005-0575", "2024-03-15", ("offset",)),
        ("20240315143005+1430", "2024-03-15", ("offset",)),
        # 13 digits (a stray digit): cut to the last whole unit (minutes), then the missing zone lowers it
        ("2024031514301-0500", "2024-03-15T14:30:00-05:00", ("digits",)),
        ("202403151", "2024-03-15", ("digits",)),
        ("2024031514300512-0500", "2024-03-15T14:30:05-05:00", ("digits",)),
        # impossible calendar values: lowered to the last valid unit
        ("20241301", "2024", ("calendar",)),
        ("20240230", "2024-02", ("calendar",)),
        ("20230229", "2023-02", ("calendar",)),
        ("20240229", "2024-02-29", ()),
        ("20240315246000-0500", "2024-03-15", ("calendar",)),
    ],
)
def test_timestamp_forms(raw: str, expected: str, lowered: tuple[str, ...]) -> None:
    result = parse_ts(raw)
    assert result.value == expected
    assert result.lowered == lowered


@pytest.mark.parametrize("raw", ["00000101", "0000", "abc", "2024-03-15", "", "20"])
def test_unreadable_timestamps_are_dropped(raw: str) -> None:
    assert parse_ts(raw).value is None


def test_full_flag_marks_instants() -> None:
    assert parse_ts("20240315143005-0500").full
    assert not parse_ts("202403151430-0500").full
    assert not parse_ts("20240315").full


def test_lowered_and_dropped_timestamps_are_reported_once_per_kind() -> None:
    ctx, element = make_ctx(
        '<x><a value="20240315143005"/><b value="20240101120000"/><c value="00000101"/>'
        '<d nullFlavor="UNK"/></x>'
    )
    values = [ts(child, ctx) for child in element]
    assert values == ["2024-03-15", "2024-01-01", None, None]
    ctx.finish()
    kinds = [(i.severity, i.message) for i in ctx.issues]
    assert ("warning", "a timestamp could not be read and was dropped") in kinds
    tallied = [m for s, m in kinds if s == "information"]
    assert len(tallied) == 1
    assert tallied[0].startswith("2 timestamps had a time but no timezone")
    assert all(i.location and i.location.startswith("/ClinicalDocument/x/") for i in ctx.issues)


def test_intervals() -> None:
    ctx, element = make_ctx(
        '<x><effectiveTime><low value="20240101"/><high value="20240201"/></effectiveTime>'
        '<effectiveTime value="20240105"/><effectiveTime><low nullFlavor="UNK"/></effectiveTime>'
        '<effectiveTime><center value="20240110"/></effectiveTime>'
        '<effectiveTime><low value="20240101"/><high value="20240101"/></effectiveTime></x>'
    )
    both, point, empty, center, same = list(element)
    assert period(both, ctx) == {"start": "2024-01-01", "end": "2024-02-01"}
    assert effective(both, ctx) == ("Period", {"start": "2024-01-01", "end": "2024-02-01"})
    assert effective(point, ctx) == ("DateTime", "2024-01-05")
    assert period(empty, ctx) is None
    assert effective(empty, ctx) is None
    assert effective(center, ctx) == ("DateTime", "2024-01-10")
    assert effective(same, ctx) == ("DateTime", "2024-01-01")
