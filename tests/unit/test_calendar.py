"""Tests for model.calendar: YYYY-MM months and the absolute month index."""

from __future__ import annotations

import pytest

from model.calendar import add_months, format_month, is_quarter_end, parse_month


def test_parse_month_is_year_times_twelve_plus_month_index():
    assert parse_month("2024-01") == 2024 * 12
    assert parse_month("2025-10") == 2025 * 12 + 9
    assert parse_month("2025-10") - parse_month("2024-01") == 21


@pytest.mark.parametrize("text", ["1900-01", "1999-12", "2024-01", "2025-10", "2200-12"])
def test_format_inverts_parse(text):
    assert format_month(parse_month(text)) == text


def test_parse_inverts_format_over_a_range():
    for absolute in range(parse_month("2023-11"), parse_month("2027-03")):
        assert parse_month(format_month(absolute)) == absolute


@pytest.mark.parametrize(
    "text",
    [
        "2025-13",
        "2025-00",
        "2025-1",
        "25-10",
        "2025/10",
        "2025-10-01",
        "",
        " 2025-10",
        "2025-10 ",
        "2025-10\n",  # ``$`` in a regex would accept a trailing newline
        "２０２５-10",  # full-width digits match ``\d`` but are not YYYY-MM
        "1899-12",
        "2201-01",
    ],
)
def test_parse_month_rejects_malformed_or_out_of_range(text):
    with pytest.raises(ValueError):
        parse_month(text)


@pytest.mark.parametrize("value", [202510, None, 2025.10, ["2025-10"]])
def test_parse_month_rejects_non_strings(value):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(value)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2024-12", 1, "2025-01"),
        ("2024-01", 47, "2027-12"),
        ("2025-03", -3, "2024-12"),
        ("2025-10", 0, "2025-10"),
        ("2024-01", 24, "2026-01"),
    ],
)
def test_add_months_crosses_year_boundaries(start, n, expected):
    assert add_months(start, n) == expected


def test_is_quarter_end_is_march_june_september_december():
    ends = [format_month(m)[5:] for m in range(parse_month("2025-01"), parse_month("2026-01")) if is_quarter_end(m)]
    assert ends == ["03", "06", "09", "12"]
