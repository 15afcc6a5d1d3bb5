"""DTM values keep their precision; the tolerant reader reports zones, fractions and impossible dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from xca.errors import InvalidValueError
from xca.iti38 import Dtm, Precision
from xca.iti38.dtm import read_dtm


@pytest.mark.parametrize(
    ("text", "precision", "moment"),
    [
        ("2020", Precision.YEAR, datetime(2020, 1, 1, tzinfo=UTC)),
        ("202002", Precision.MONTH, datetime(2020, 2, 1, tzinfo=UTC)),
        ("20200229", Precision.DAY, datetime(2020, 2, 29, tzinfo=UTC)),
        ("2020022913", Precision.HOUR, datetime(2020, 2, 29, 13, tzinfo=UTC)),
        ("202002291307", Precision.MINUTE, datetime(2020, 2, 29, 13, 7, tzinfo=UTC)),
        ("20200229130759", Precision.SECOND, datetime(2020, 2, 29, 13, 7, 59, tzinfo=UTC)),
    ],
)
def test_parse_keeps_precision(text: str, precision: Precision, moment: datetime) -> None:
    dtm = Dtm.parse(text)
    assert (dtm.precision, dtm.moment, dtm.to_hl7()) == (precision, moment, text)


def test_day_and_second_precision_differ() -> None:
    assert Dtm.parse("20200101") != Dtm.parse("20200101000000")


@pytest.mark.parametrize("text", ["19849711", "2020-01-01", "202", "20200101T1200", "20190229"])
def test_strict_parse_refuses(text: str) -> None:
    with pytest.raises(InvalidValueError):
        Dtm.parse(text)


def test_of_converts_to_utc_and_truncates() -> None:
    local = datetime(2023, 5, 17, 23, 30, 45, tzinfo=timezone(timedelta(hours=-5)))
    assert Dtm.of(local, Precision.MINUTE).to_hl7() == "202305180430"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        Dtm.of(datetime(2023, 1, 1))
    with pytest.raises(InvalidValueError):
        Dtm(datetime(2023, 1, 1), Precision.DAY)


def test_read_dtm_tolerates_zone_and_fraction() -> None:
    loose = read_dtm("20230517120000.123-0500")
    assert loose.had_zone_or_fraction
    assert loose.value == Dtm.parse("20230517170000")


def test_read_dtm_drops_impossible_dates() -> None:
    loose = read_dtm("19849711")
    assert loose.impossible
    assert loose.value is None
