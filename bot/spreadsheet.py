"""Cells for CSV files that people open in spreadsheets: data, never formulas.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so a name
or team from BrowserStack such as ``=HYPERLINK(...)`` would become a link or worse (CSV
injection, OWASP). Such cells get a leading apostrophe, which spreadsheets show as text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from bot.browserstack.models import Product

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """``value`` as a CSV cell: formulas defused, booleans as yes/no, times in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return "; ".join(p.label if isinstance(p, Product) else str(p) for p in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def row(values: Iterable[object]) -> list[object]:
    return [cell(value) for value in values]
