"""Calendar months as ``YYYY-MM`` strings and the integer month index used inside the model."""

from __future__ import annotations

import re

# ASCII digits only and no trailing newline: ``$`` would accept "2025-10\n" and ``\d`` full-width digits.
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def parse_month(text: str) -> int:
    """Return the absolute month number (year*12 + month-1) of a ``YYYY-MM`` string.

    Raises:
        ValueError: if the text is not a valid ``YYYY-MM`` month between 1900 and 2200.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a 'YYYY-MM' month string, got {text!r}")
    m = _MONTH.fullmatch(text)
    if not m:
        raise ValueError(f"expected a 'YYYY-MM' month, got {text!r}")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01-12, got {text!r}")
    if not 1900 <= year <= 2200:
        raise ValueError(f"year must be 1900-2200, got {text!r}")
    return year * 12 + month - 1


def format_month(absolute: int) -> str:
    """Inverse of :func:`parse_month`."""
    return f"{absolute // 12:04d}-{absolute % 12 + 1:02d}"


def add_months(text: str, n: int) -> str:
    """``add_months("2024-12", 1) == "2025-01"``."""
    return format_month(parse_month(text) + n)


def is_quarter_end(absolute: int) -> bool:
    """True for March, June, September and December."""
    return absolute % 12 in (2, 5, 8, 11)
