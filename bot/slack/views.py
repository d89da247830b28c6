"""One function per message type: the template's context from analysis results, then ``render``.

Views decide what goes where: a summary shows a few lines of each list and says how many more the
thread holds; thread replies (``Answer.details``) are packed to Slack's limits, at most
``MAX_DETAIL_MESSAGES`` of them, and a list longer than that also comes whole as a CSV file.
Escaping is the templates' job (``_lines.json.j2`` renders each list line).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from bot import spreadsheet
from bot.browserstack.models import Product
from bot.reports.analysis import (
    IdleMember,
    IdleSeatsReport,
    OrgOverview,
    RightsizingRow,
    TeamSummary,
    TopUser,
    UserSummary,
)
from bot.reports.humanize import relative_time
from bot.slack.messages import Answer, CsvFile, Line, Message, fit_lines, line, pack, render
from bot.slack.people import NOBODY, People

__all__ = [
    "BUTTONS",
    "UsageForm",
    "cancelled_message",
    "error_message",
    "help_message",
    "idle_answer",
    "not_found_message",
    "placeholder_message",
    "team_answer",
    "teams_answer",
    "top_answer",
    "user_answer",
]

BUTTONS = ("share", "details", "cancel")
COMMAND = "/usage"
# Each reply is posted one per second or so (chat.postMessage's pace): beyond three, a file reads
# better than a wall of replies.
MAX_DETAIL_MESSAGES = 3
# JSON characters one list may take in a summary: two lists and ten fields stay well under 12k.
SUMMARY_LIST_JSON = 2_400
MAX_SUGGESTIONS = 10
MAX_RIGHTSIZING_LINES = 25
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


class UsageForm(Protocol):
    """One way to use the command, as ``bot.slack.commands.USAGE_FORMS`` lists them."""

    @property
    def syntax(self) -> str: ...

    @property
    def example(self) -> str: ...

    @property
    def explanation(self) -> str: ...


# --- shared helpers ----------------------------------------------------------------------------


def _user_id(value: str | None) -> str | None:
    # It becomes a <@…> mention, the one unescaped construct we emit: accept only a real user id.
    if value is not None and not _USER_ID.fullmatch(value):
        raise ValueError(f"not a Slack user id: {value!r}")
    return value


def _buttons(names: Sequence[str], *, has_details: bool = True) -> tuple[str, ...]:
    unknown = [name for name in names if name not in BUTTONS]
    if unknown:
        raise ValueError(f"unknown buttons {unknown}; choose from {BUTTONS}")
    # A "Details in thread" button with no details to post would promise nothing.
    return tuple(n for n in dict.fromkeys(names) if has_details or n != "details")


def _answer_context(
    *,
    period_label: str,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None,
    has_details: bool,
) -> dict[str, object]:
    return {
        "period": period_label,
        "request_id": request_id,
        "buttons": _buttons(buttons, has_details=has_details),
        "shared_by": _user_id(shared_by),
    }


def _summary_list(lines: Iterable[str], *, total: int, limit: int) -> tuple[list[str], int]:
    """The first lines that fit a summary, and how many of ``total`` were left out."""
    kept = fit_lines(lines, max_lines=limit, max_json=SUMMARY_LIST_JSON)
    return kept, total - len(kept)


def detail_messages(
    title: str,
    lines: Iterable[Line],
    *,
    total: int,
    csv_file: Callable[[], CsvFile] | None = None,
    csv_attached: bool = False,
) -> tuple[tuple[Message, ...], CsvFile | None]:
    """Thread replies holding ``lines``; the CSV (built only then) when they do not all fit.

    ``csv_attached``: the caller attaches a CSV of its own whatever happens (the digest does).
    """
    packed = pack(lines, max_messages=MAX_DETAIL_MESSAGES)
    parts = len(packed.pages)
    more = total - packed.placed if packed.cut else 0
    with_csv = csv_attached or (packed.cut and csv_file is not None)
    messages = tuple(
        render(
            "details",
            title=title,
            part=part,
            parts=parts,
            sections=sections,
            more=more if part == parts else 0,
            with_csv=with_csv,
        )
        for part, sections in enumerate(packed.pages, start=1)
    )
    return messages, csv_file() if with_csv and csv_file and packed.cut else None


def _csv(
    filename: str, title: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> CsvFile:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(spreadsheet.row(row) for row in rows)
    return CsvFile(filename=filename, title=title, content=out.getvalue())


# --- simple messages ---------------------------------------------------------------------------


def _is_command(form: UsageForm) -> bool:
    # A command's example starts with its own first word ("team <name>": "team Mobile QA"); an
    # option is shown added to some command ("public": "teams public").
    syntax, example = form.syntax.split(), form.example.split()
    return bool(syntax and example) and syntax[0].casefold() == example[0].casefold()


def help_message(forms: Sequence[UsageForm], *, command: str = COMMAND) -> Message:
    """Every form of the command with its example: commands first, then options."""
    commands = [form for form in forms if _is_command(form)]
    options = [form for form in forms if not _is_command(form)]

    def lines() -> Iterator[Line]:
        for title, group in (("Commands", commands), ("Options", options)):
            if group:
                yield Line(f"*{title}*", heading=True)
                yield from (Line(line("usage_form", form, command)) for form in group)

    # One message: the bot's own forms fit easily; a cut would drop only the last options.
    packed = pack(lines(), max_messages=1, message_json=9_000, message_blocks=40)
    sections = packed.pages[0] if packed.pages else ()
    return render("help", command=command, sections=sections)


def error_message(
    *,
    title: str,
    problem: str,
    example: str | None = None,
    hint: str | None = None,
    command: str = COMMAND,
) -> Message:
    """A mistake in a command, a BrowserStack failure or a refusal, with what to do instead."""
    # Examples are command text without the command's name, which differs per workspace.
    if example and not example.startswith("/"):
        example = f"{command} {example}"
    return render(
        "error",
        title=title.strip() or "Something went wrong",
        problem=problem,
        example=example,
        hint=hint,
    )


def _as_typed(name: str) -> str:
    # A name of several words may hold option words ("App Live QA"): quoting keeps it a name.
    return f'"{name}"' if len(name.split()) > 1 and '"' not in name else name


def not_found_message(
    *, what: str, query: str, suggestions: Sequence[str], example_prefix: str
) -> Message:
    """Nothing matches a name: the closest names, each as the command to type."""
    commands = [f"{example_prefix} {_as_typed(name)}" for name in suggestions[:MAX_SUGGESTIONS]]
    return render("not_found", what=what, query=query, commands=commands)


def placeholder_message(
    *,
    title: str,
    period_label: str,
    status: str,
    elapsed: str | None,
    request_id: str,
    buttons: Sequence[str] = ("cancel",),
) -> Message:
    """Shown while a report is made: what, for which period, how far along."""
    return render(
        "placeholder",
        title=title.strip() or "Working on it",
        period=period_label,
        status=status,
        elapsed=elapsed,
        request_id=request_id,
        buttons=_buttons(buttons),
    )


def unavailable_message() -> Message:
    """The ack when a question cannot be stored: nothing was started, so say to ask again."""
    return error_message(
        title="I can't take requests right now",
        problem="My database is not answering, so I could not keep your question.",
        hint="Nothing was started. Please try again in a minute.",
    )


def cancelled_message(*, title: str, by_user: str | None, note: str | None) -> Message:
    """Replaces a placeholder or an answer that is no longer coming (or went elsewhere)."""
    title = title.strip() or "Cancelled"
    return render("cancelled", title=title, by_user=_user_id(by_user), note=note)


# --- one team ----------------------------------------------------------------------------------


def team_answer(
    summary: TeamSummary,
    *,
    period_label: str,
    now: datetime,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    members_limit: int = 10,
    members: Sequence[UserSummary] = (),
    people: People = NOBODY,
) -> Answer:
    """A team at a glance; its products and members, one line each, in the thread.

    ``members`` (``user_summary`` of each member) gives the per-member, per-product breakdown;
    without it the thread lists the summary's ``most_active``.
    """
    seats = {seat.product: seat for seat in summary.seats}
    fields = [line("team_product", row, seats.get(row.product)) for row in summary.products]
    total = len(members) or len(summary.most_active)
    top, more = _summary_list(
        (line("top_row", user) for user in summary.most_active),
        total=total,
        limit=members_limit,
    )

    def lines() -> Iterator[Line]:
        yield Line("*Per product*", heading=True)
        yield from (Line(line("team_product_row", row), counted=False) for row in summary.products)
        if members:
            yield Line("*Members*", heading=True)
            for user in members:
                yield Line(line("member_row", user, relative_time(user.last_activity, now=now)))
        elif summary.most_active:
            yield Line("*Most active members*", heading=True)
            yield from (Line(line("top_row", user)) for user in summary.most_active)

    def csv_file() -> CsvFile:
        if members:
            return _members_csv(summary.name, members, period_label)
        return _top_csv(summary.most_active, period_label)

    details, attachment = detail_messages(
        f"{summary.name}: breakdown", lines(), total=total, csv_file=csv_file
    )
    message = render(
        "team",
        team=summary,
        last=relative_time(summary.last_activity, now=now),
        fields=fields,
        top=top,
        more=more,
        member_count=summary.member_count if summary.member_count is not None else len(members),
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=bool(details),
        ),
    )
    return Answer(summary=message, details=details, csv=attachment)


def _members_csv(team: str, members: Sequence[UserSummary], period: str) -> CsvFile:
    products = list(Product)
    header = ["name", "email", "role", "team", "used", "idle", "not_reported"]
    header += [f"{p.value}_{k}" for p in products for k in ("tests", "minutes")]
    header += ["fully_idle", "never_used", "last_activity", "last_test"]

    def row(user: UserSummary) -> list[object]:
        by_product = {r.product: r for r in user.products}
        figures: list[object] = []
        for product in products:
            r = by_product.get(product)
            figures += [r.tests_run, r.minutes_used] if r else [None, None]
        return [
            user.name,
            user.email,
            user.role,
            user.team,
            user.used_products,
            user.idle_products,
            user.unknown_products,
            *figures,
            user.fully_idle,
            user.never_used,
            user.last_activity,
            user.last_test,
        ]

    return _csv("team-members.csv", f"{team} members, {period}", header, map(row, members))


# --- all teams ---------------------------------------------------------------------------------


def teams_answer(
    overview: OrgOverview,
    *,
    period_label: str,
    now: datetime,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    rows_in_summary: int = 15,
    rightsizing: Sequence[RightsizingRow] = (),
    people: People = NOBODY,
) -> Answer:
    """Org totals and the busiest teams; every team, and parallels to free, in the thread."""
    seats = {seat.product: seat for seat in overview.seats if seat.seats or seat.unknown}
    fields = [
        line("org_product", total, seats.get(total.product))
        for total in overview.totals
        if total.teams_reporting or total.product in seats
    ]

    def team_row(rank: int, team: TeamSummary) -> str:
        return line("team_row", rank, team, relative_time(team.last_activity, now=now))

    top, more = _summary_list(
        (team_row(rank, team) for rank, team in enumerate(overview.teams, start=1)),
        total=overview.team_count,
        limit=rows_in_summary,
    )

    def lines() -> Iterator[Line]:
        if rightsizing:
            yield Line("*Parallels that could be freed*", heading=True)
            for row in rightsizing[:MAX_RIGHTSIZING_LINES]:
                yield Line(line("rightsizing_row", row), counted=False)
            if len(rightsizing) > MAX_RIGHTSIZING_LINES:
                rest = len(rightsizing) - MAX_RIGHTSIZING_LINES
                yield Line(f"_… and {rest:,} more_", counted=False)
        yield Line("*All teams*", heading=True)
        for rank, team in enumerate(overview.teams, start=1):
            yield Line(team_row(rank, team))

    details, attachment = detail_messages(
        "All teams",
        lines(),
        total=overview.team_count,
        csv_file=lambda: _teams_csv(overview, period_label),
    )
    message = render(
        "teams",
        overview=overview,
        last=relative_time(overview.last_activity, now=now),
        fields=fields,
        top=top,
        more=more,
        freeable=sum(row.freed for row in rightsizing),
        rightsizing_count=len(rightsizing),
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=bool(details),
        ),
    )
    return Answer(summary=message, details=details, csv=attachment)


def _teams_csv(overview: OrgOverview, period: str) -> CsvFile:
    products = list(Product)
    keys = ("minutes", "tests", "parallels_allocated", "max_parallels_used")
    header = ["rank", "team", "type", "user_count", "active", "minutes", "tests", "peak_parallels"]
    header += [f"{p.value}_{k}" for p in products for k in keys]
    header += ["last_activity"]

    def row(rank: int, team: TeamSummary) -> list[object]:
        by_product = {r.product: r for r in team.products}
        figures: list[object] = []
        for product in products:
            r = by_product.get(product)
            figures += (
                [r.minutes_used, r.tests_run, r.parallels_allocated, r.max_parallels_used]
                if r
                else [None] * len(keys)
            )
        return [
            rank,
            team.name,
            team.type,
            team.user_count,
            team.active,
            team.minutes_used,
            team.tests_run,
            team.parallels_used,
            *figures,
            team.last_activity,
        ]

    rows = (row(rank, team) for rank, team in enumerate(overview.teams, start=1))
    return _csv("teams.csv", f"All teams, {period}", header, rows)


# --- one user ----------------------------------------------------------------------------------


def user_answer(
    summary: UserSummary,
    *,
    period_label: str,
    now: datetime,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    people: People = NOBODY,
) -> Answer:
    """One person's seats and usage per product, and when they were last seen."""
    message = render(
        "user",
        user=summary,
        fields=[line("user_product", row) for row in summary.products],
        last_activity=relative_time(summary.last_activity, now=now),
        last_test=relative_time(summary.last_test, now=now),
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=False,
        ),
    )
    return Answer(summary=message)


# --- idle seats --------------------------------------------------------------------------------


def idle_answer(
    report: IdleSeatsReport,
    *,
    period_label: str,
    product_label: str | None,
    now: datetime,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    members_in_summary: int = 10,
    teams_in_summary: int = 5,
    people: People = NOBODY,
) -> Answer:
    """Idle seats per product and team; every idle member, grouped per team, in the thread."""

    def member_row(member: IdleMember, *, with_team: bool = False) -> str:
        last = relative_time(member.last_activity, now=now)
        return line("idle_member", member, last, with_team)

    total = len(report.members)
    teams, teams_more = _summary_list(
        (line("idle_team_row", team) for team in report.teams),
        total=len(report.teams),
        limit=teams_in_summary,
    )
    members, members_more = _summary_list(
        (member_row(m, with_team=True) for m in report.members),
        total=total,
        limit=members_in_summary,
    )

    def lines() -> Iterator[Line]:
        for team in report.teams:
            yield Line(line("idle_team", team), heading=True)
            yield from (Line(member_row(member)) for member in team.members)

    details, attachment = detail_messages(
        "Idle members" + (f": {product_label}" if product_label else ""),
        lines(),
        total=total,
        csv_file=lambda: _idle_csv(report, period_label),
    )
    message = render(
        "idle",
        report=report,
        product_label=product_label,
        fields=[line("seat_field", seat) for seat in report.seats if seat.seats or seat.unknown],
        idle_seats=report.idle_seats,
        idle_members=total,
        fully_idle=report.fully_idle,
        never_used=report.never_used,
        teams=teams,
        teams_more=teams_more,
        members=members,
        members_more=members_more,
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=bool(details),
        ),
    )
    return Answer(summary=message, details=details, csv=attachment)


def _idle_csv(report: IdleSeatsReport, period: str) -> CsvFile:
    header = [
        "name",
        "email",
        "team",
        "role",
        "idle_products",
        "products",
        "not_reported",
        "fully_idle",
        "never_used",
        "last_activity",
        "days_inactive",
    ]
    rows = (
        [
            m.name,
            m.email,
            m.team,
            m.role,
            m.idle_products,
            m.products,
            m.unknown_products,
            m.fully_idle,
            m.never_used,
            m.last_activity,
            m.days_inactive,
        ]
        for m in report.members
    )
    return _csv("idle-seats.csv", f"Idle seats, {period}", header, rows)


# --- top users ---------------------------------------------------------------------------------


def top_answer(
    users: Sequence[TopUser],
    *,
    product_label: str | None,
    period_label: str,
    request_id: str,
    buttons: Sequence[str],
    shared_by: str | None = None,
    rows_in_summary: int = 10,
    people: People = NOBODY,
) -> Answer:
    """The heaviest users; those past the summary's first few in the thread."""
    top, more = _summary_list(
        (line("top_row", user) for user in users), total=len(users), limit=rows_in_summary
    )
    rest = users[len(top) :]
    details, attachment = detail_messages(
        "Top users, continued",
        (Line(line("top_row", user)) for user in rest),
        total=len(rest),
        csv_file=lambda: _top_csv(users, period_label),
    )
    message = render(
        "top",
        count=len(users),
        product_label=product_label,
        by_tests=bool(users) and users[0].product is not None and not users[0].product.has_minutes,
        top=top,
        more=more,
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=bool(details),
        ),
    )
    return Answer(summary=message, details=details, csv=attachment)


def _product(user: TopUser) -> str:
    return user.product.label if user.product else "all"


def _top_csv(users: Sequence[TopUser], period: str) -> CsvFile:
    header = ["rank", "name", "email", "team", "product", "minutes", "tests"]
    rows = (
        (u.rank, u.name, u.email, u.team, _product(u), u.minutes_used, u.tests_run) for u in users
    )
    return _csv("top-users.csv", f"Top users, {period}", header, rows)
