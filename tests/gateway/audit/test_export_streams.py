"""Exports write onto the caller's binary stream and never close it, even when a write fails."""

from __future__ import annotations

import csv
import gc
import io

import pytest

from gateway.audit import ExportFormat, StoredRecord, export_records
from gateway.audit.export import CSV_COLUMNS, csv_row
from tests.gateway.audit.factories import SOURCE, T0, every_path


def _records() -> list[StoredRecord]:
    return [
        StoredRecord(tenant_id=1, tenant="c", seq=n, recorded_at=T0, prev_hash="", hash="", event=event)
        for n, event in enumerate(list(every_path().values()) * 5, start=1)
    ]


class _PipeClosedAfter(io.BytesIO):
    """A stdout whose reader goes away after ``limit`` bytes: later writes fail as a closed pipe does."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(data)


@pytest.mark.parametrize("export_format", list(ExportFormat))
def test_a_failed_write_reaches_the_caller_and_leaves_the_stream_open(export_format: ExportFormat) -> None:
    out = _PipeClosedAfter(limit=4096)
    with pytest.raises(BrokenPipeError):
        export_records(_records(), out, export_format, SOURCE)
    gc.collect()  # nothing the export made may close the stream when it is collected
    assert not out.closed  # `hiegate audit export | head`: the CLI still flushes sys.stdout, then exits 141


@pytest.mark.parametrize("export_format", list(ExportFormat))
def test_a_finished_export_leaves_the_stream_open(export_format: ExportFormat) -> None:
    out = io.BytesIO()
    assert export_records(_records(), out, export_format, SOURCE) == len(_records())
    gc.collect()
    assert not out.closed
    assert out.getvalue()


def test_csv_is_utf8_with_crlf_rows_as_the_csv_module_writes_them() -> None:
    out = io.BytesIO()
    export_records(_records(), out, ExportFormat.CSV, SOURCE)
    expected = io.StringIO(newline="")
    writer = csv.DictWriter(expected, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_row(record) for record in _records())
    assert out.getvalue() == expected.getvalue().encode("utf-8")
    assert out.getvalue().count(b"\r\n") >= len(_records()) + 1
