"""Writing a report out for people and spreadsheets: JSON, CSV, or a terminal table."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import msgspec

from bot import spreadsheet
from bot.browserstack.models import Product, Report, ReportKind
from bot.reports import analysis

FORMATS = ("json", "csv", "table")
_PRODUCT_DATA = "usage.product_data."


def write_report(report: Report, out: TextIO, *, fmt: str, now: dt.datetime) -> None:
    """Write ``report`` to ``out`` in one of ``FORMATS``."""
    if fmt == "json":
        out.write(to_json(report))
    elif fmt == "csv":
        write_csv(report, out)
    elif fmt == "table":
        out.write(to_table(report, now=now))
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def to_json(report: Report) -> str:
    """The report's ``data`` object with the API's own names and normalised types."""
    return msgspec.json.format(msgspec.json.encode(report.data()), indent=2).decode() + "\n"


def flatten(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested dicts as dotted columns; product data drops its long common prefix."""
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, path + ".")
        else:
            yield path.removeprefix(_PRODUCT_DATA), value


def write_csv(report: Report, out: TextIO) -> None:
    """A header and one row per user or team; columns in the order the API first used them.

    Two passes, one row at a time (the columns, then the rows): flattened all at once, the rows
    of 200,000 members took ~600 MB on top of the report (bench/scale_200k.py).
    """

    def flat() -> Iterator[dict[str, Any]]:
        return (dict(flatten(msgspec.to_builtins(row))) for row in report.rows)

    columns: dict[str, None] = {}
    for row in flat():
        columns.update(dict.fromkeys(row))
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet.cell(v) for k, v in row.items()} for row in flat())


def to_table(report: Report, *, now: dt.datetime, limit: int = 20) -> str:
    """A summary that fits a terminal: totals first, then the largest rows."""
    buf = io.StringIO()
    start, end = report.filters.period(today=now.date())
    product = report.filters.product.label if report.filters.product else "all products"
    buf.write(f"{report.kind.value.title()} report, {start} to {end}, {product}\n\n")
    if report.kind is ReportKind.TEAM:
        _team_table(buf, report, now=now, limit=limit)
    else:
        _user_table(buf, report, now=now, limit=limit)
    return buf.getvalue()


def _team_table(buf: io.StringIO, report: Report, *, now: dt.datetime, limit: int) -> None:
    overview = analysis.org_overview(report.teams, now=now)
    products = report.filters.products
    rows = []
    for team in overview.teams[:limit]:
        by_product = {row.product: row for row in team.products}
        cells = [_product_cell(by_product.get(p)) for p in products]
        rows.append([team.name, _num(team.user_count), *cells, team.last_activity_text])
    header = ["Team", "Members", *[p.label for p in products], "Last activity"]
    _table(buf, header, rows)
    buf.write(product_legend(products))
    teams = _plural(overview.team_count, "team")
    buf.write(f"\n{teams}, {overview.inactive_teams:,} without activity.\n")
    _more(buf, overview.team_count, limit)


def _user_table(buf: io.StringIO, report: Report, *, now: dt.datetime, limit: int) -> None:
    idle = analysis.idle_seats(report.users, now=now)
    buf.write("Seats per product (with access / used / idle):\n")
    for seats in idle.seats:
        buf.write(
            f"  {seats.product.label:<13} {seats.seats:>7,} / {seats.used:>7,} / {seats.idle:>7,}\n"
        )
    buf.write(f"  Fully idle members: {idle.fully_idle:,}; ")
    buf.write(f"never used BrowserStack: {idle.never_used:,}\n\n")
    top = analysis.top_users(report.users, product=report.filters.product, n=limit)
    header = ["#", "Name", "Email", "Team", "Minutes", "Tests"]
    rows = [
        [str(u.rank), u.name, u.email, u.team or "", _num(u.minutes_used), _num(u.tests_run)]
        for u in top
    ]
    buf.write(f"Top {_plural(len(rows), 'user')} by activity (minutes plus tests):\n")
    _table(buf, header, rows)
    _more(
        buf,
        analysis.active_users(report.users, product=report.filters.product),
        limit,
        what="users",
    )


def product_legend(products: Iterable[Product]) -> str:
    """What the product cells of ``_team_table`` mean, for the products it shows."""
    products = list(products)
    minutes = [p.label for p in products if p.has_minutes]
    parallels = [p.label for p in products if not p.has_minutes]
    parts = []
    if minutes:
        parts.append(f'{" and ".join(minutes)}: minutes used ("180 min")')
    if parallels:
        parts.append(
            f"{' and '.join(parallels)}: peak parallels used / parallels allocated"
            ' ("2/5 par": at most 2 tests ran at once, of 5 allowed)'
        )
    parts.append('"-": no figures for it in the report')
    return "\nIn the product columns:\n" + "".join(f"  {part}\n" for part in parts)


def _product_cell(row: analysis.TeamProductRow | None) -> str:
    if row is None or not row.reported:
        return "-"
    if row.product.has_minutes:
        return f"{_num(row.minutes_used)} min"
    return f"{_num(row.max_parallels_used)}/{_num(row.parallels_allocated)} par"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _table(buf: io.StringIO, header: list[str], rows: Iterable[list[str]]) -> None:
    rows = [[_clip(cell) for cell in row] for row in rows]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in [header, ["-" * w for w in widths], *rows]:
        buf.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        buf.write("\n")


def _clip(text: str, width: int = 32) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _more(buf: io.StringIO, total: int, limit: int, *, what: str = "team") -> None:
    if total > limit:
        more = total - limit
        what += "" if more == 1 else "s"
        buf.write(f"\n… {more:,} more {what}; use --format csv for all of them.\n")
