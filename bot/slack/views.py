"""One function per message type: the template's context from analysis results, then ``render``.

Views decide what goes where: a summary shows a few lines of each list and says how many more the
thread holds; thread replies (``Answer.details``) are packed to Slack's limits, at most
``MAX_DETAIL_MESSAGES`` of them, and every list also comes whole as a CSV file with them (the
summary says so). Every answer ends with an "Open in BrowserStack" link to the account page where
the admin acts on it (``USAGE_PAGE``, ``USERS_PAGE``). Members are named as Slack mentions where
``people`` knows them, else by name and email. Escaping is the templates' job (``_lines.json.j2``
renders each list line).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

from bot import spreadsheet
from bot.browserstack.models import Product
from bot.reports.analysis import (
    IdleMember,
    IdleSeatsReport,
    OrgOverview,
    ParallelCost,
    ParallelsAdvice,
    RightsizingRow,
    SaturatedRow,
    TeamProductRow,
    TeamSummary,
    TopUser,
    UnlicensedUse,
    UserSummary,
)
from bot.reports.humanize import money, relative_time
from bot.slack.messages import Answer, CsvFile, Line, Message, fit_lines, line, pack, render
from bot.slack.people import NOBODY, People

log = logging.getLogger(__name__)

__all__ = [
    "BUTTONS",
    "USAGE_PAGE",
    "USERS_PAGE",
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

USAGE_PAGE = "https://www.browserstack.com/accounts/usage-reports"
"""What "Open in BrowserStack" opens under usage answers (team, teams, top): the account's usage
reports, where the same figures can be read and exported."""
USERS_PAGE = "https://www.browserstack.com/accounts/manage-users"
"""What "Open in BrowserStack" opens under answers about people and seats (user, idle, digest):
user management, where product access is granted or removed."""


@dataclass(frozen=True, slots=True)
class ReclaimOffer:
    """A reclaim campaign the asker (a seat admin) may start from an idle answer."""

    count: int  # members it would ask
    products: tuple[str, ...]  # their labels
    period: str  # "start..end" of the answer's report


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


def mention(people: People, email: str | None) -> str | None:
    """The member's Slack user id for a ``<@…>`` mention, or None to name them by name and email.

    An id that is not a real user id is never emitted (it would be unescaped mrkdwn): the member
    is then named, and the bad id logged.
    """
    if not email:
        return None
    found = people.user_id(email)
    if found is not None and not _USER_ID.fullmatch(found):
        log.warning("people gave %r, not a Slack user id: naming the member instead", found)
        return None
    return found


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
    link: str = USAGE_PAGE,
    csv_rows: int | None = None,
) -> dict[str, object]:
    """What every answer template takes; ``csv_rows``: the list's rows, when a CSV comes along."""
    notes = []
    if csv_rows:
        notes.append(f"The details come with a CSV of all {csv_rows:,} rows.")
    return {
        "period": period_label,
        "request_id": request_id,
        "buttons": _buttons(buttons, has_details=has_details),
        "shared_by": _user_id(shared_by),
        "link": link,
        "notes": notes,
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
    """Thread replies holding ``lines``, and the CSV of the whole list (when ``csv_file`` is
    given and there is anything to post).

    ``csv_attached``: the caller attaches a CSV of its own whatever happens (the digest does).
    """
    packed = pack(lines, max_messages=MAX_DETAIL_MESSAGES)
    parts = len(packed.pages)
    more = total - packed.placed if packed.cut else 0
    with_csv = csv_attached or (bool(packed.pages) and csv_file is not None)
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
    return messages, csv_file() if with_csv and csv_file and packed.pages else None


@dataclass(frozen=True)
class _LazyThread:
    """An answer's thread replies (``detail_messages``), made only when someone reads them;
    whether there are any is known from the first line."""

    title: str
    lines: Callable[[], Iterable[Line]]
    total: int
    csv_file: Callable[[], CsvFile] | None = None

    @cached_property
    def exists(self) -> bool:
        return next(iter(self.lines()), None) is not None

    @property
    def csv_rows(self) -> int | None:
        """The CSV's rows, when one comes along (``detail_messages`` attaches it then)."""
        return self.total if self.exists and self.csv_file is not None else None

    def make(self) -> tuple[tuple[Message, ...], CsvFile | None]:
        return detail_messages(self.title, self.lines(), total=self.total, csv_file=self.csv_file)


def _csv(
    filename: str, title: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> CsvFile:
    def write() -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(spreadsheet.row(row) for row in rows)
        return out.getvalue()

    return CsvFile(filename=filename, title=title, content=write)


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
    *,
    what: str,
    query: str,
    suggestions: Sequence[str],
    example_prefix: str,
    example_suffix: str = "",
) -> Message:
    """Nothing matches a name: the closest names, each as the command to type."""
    commands = [
        f"{example_prefix} {_as_typed(name)}{example_suffix}"
        for name in suggestions[:MAX_SUGGESTIONS]
    ]
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


def mistake_message(problem: str, example: str) -> Message:
    """Command text that makes no sense: what is wrong, and an example that would work."""
    return error_message(title="I didn't understand that", problem=problem, example=example)


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
    without it the thread lists the summary's ``most_active``. Flags: parallels that ran full,
    and members who used a product without access.
    """
    seats = {seat.product: seat for seat in summary.seats}
    fields = [line("team_product", row, seats.get(row.product)) for row in summary.products]
    total = len(members) or len(summary.most_active)
    top, more = _summary_list(
        (line("top_row", u, mention(people, u.email)) for u in summary.most_active),
        total=total,
        limit=members_limit,
    )
    unlicensed = summary.usage_without_access
    flagged, flagged_more = _summary_list(
        _unlicensed_lines(unlicensed, people), total=len(unlicensed), limit=members_limit
    )

    def lines() -> Iterator[Line]:
        yield Line("*Per product*", heading=True)
        yield from (Line(line("team_product_row", row), counted=False) for row in summary.products)
        if members:
            yield Line("*Members*", heading=True)
            for user in members:
                last = relative_time(user.last_activity, now=now)
                yield Line(line("member_row", user, last, mention(people, user.email)))
        elif summary.most_active:
            yield Line("*Most active members*", heading=True)
            for top_user in summary.most_active:
                yield Line(line("top_row", top_user, mention(people, top_user.email)))
        if unlicensed:
            yield Line("*Usage without access*", heading=True)
            yield from (Line(text, counted=False) for text in _unlicensed_lines(unlicensed, people))

    def csv_file() -> CsvFile:
        if members:
            return _members_csv(summary.name, members, period_label)
        return _top_csv(summary.most_active, period_label)

    thread = _LazyThread(
        f"{summary.name}: breakdown", lines, total=total, csv_file=csv_file if total else None
    )
    message = render(
        "team",
        team=summary,
        last=relative_time(summary.last_activity, now=now),
        fields=fields,
        top=top,
        more=more,
        member_count=summary.member_count if summary.member_count is not None else len(members),
        unlicensed=flagged,
        unlicensed_more=flagged_more,
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=thread.exists,
            csv_rows=thread.csv_rows,
        ),
    )
    return Answer(summary=message, thread=thread.make)


def _unlicensed_lines(found: Sequence[UnlicensedUse], people: People) -> Iterator[str]:
    return (line("unlicensed_row", use, mention(people, use.email)) for use in found)


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
    advice: ParallelsAdvice | None = None,
    parallel_costs: Sequence[ParallelCost] = (),
    currency: str = "$",
    rightsizing: Sequence[RightsizingRow] = (),
    people: People = NOBODY,
) -> Answer:
    """Org totals and the busiest teams (by activity: minutes plus tests, every product); every
    team, parallels that ran full, and parallels to free (``advice``), in the thread.

    ``parallel_costs``: what the parallels above peak use cost a month (``PARALLEL_PRICES``).
    ``rightsizing``: rows to show when no ``advice`` is given. ``people`` is taken as every list
    view takes it; this answer names teams, not members.
    """
    if advice is not None:
        rightsizing = advice.rows
    saturated = overview.saturated
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
        if saturated:
            yield Line("*Parallels that ran full: tests queued*", heading=True)
            for team, full in saturated[:MAX_RIGHTSIZING_LINES]:
                yield Line(line("saturated_row", _saturated(team, full)), counted=False)
            if len(saturated) > MAX_RIGHTSIZING_LINES:
                rest = len(saturated) - MAX_RIGHTSIZING_LINES
                yield Line(f"_… and {rest:,} more_", counted=False)
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

    thread = _LazyThread(
        "All teams",
        lines,
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
        advice_note=advice_note(advice),
        saturated_count=len(saturated),
        parallel_costs=[
            f"{c.product.label}: {c.above_peak:,} × {money(c.price, currency)}"
            for c in parallel_costs
            if c.monthly
        ],
        parallel_cost_total=(
            money(sum(c.monthly for c in parallel_costs), currency)
            if any(c.monthly for c in parallel_costs)
            else None
        ),
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=thread.exists,
            csv_rows=thread.csv_rows,
        ),
    )
    return Answer(summary=message, thread=thread.make)


def _saturated(team: TeamSummary, row: TeamProductRow) -> SaturatedRow:
    allocated, peak = row.parallels_allocated or 0, row.max_parallels_used or 0
    return SaturatedRow(team.name, row.product, allocated, peak)


def advice_note(advice: ParallelsAdvice | None, *, hint: str | None = None) -> str | None:
    """Why no parallels advice is offered, when the period is too short to trust; ``hint`` says
    how to get it (default: the command with a long enough period)."""
    if advice is None or advice.offered:
        return None
    hint = hint or f"try `/usage teams last {max(advice.min_days, 30)}d`"
    return (
        f"No parallels advice: {advice.days:,} days may miss the busy weeks, and advice needs at "
        f"least {advice.min_days} ({hint})."
    )


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
    """One person's seats and usage per product, and when they were last seen; their Slack
    mention beside their email when ``people`` knows them."""
    message = render(
        "user",
        user=summary,
        mention=mention(people, summary.email),
        fields=[line("user_product", row) for row in summary.products],
        last_activity=relative_time(summary.last_activity, now=now),
        last_test=relative_time(summary.last_test, now=now),
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=False,
            link=USERS_PAGE,
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
    currency: str = "$",
    reclaim: ReclaimOffer | None = None,
) -> Answer:
    """Idle Live and App Live seats (and their cost) per product and team, Automate access nobody
    used (information), who never used BrowserStack, and usage without access; every idle member,
    grouped per team and costliest first, in the thread with a CSV."""

    def member_row(member: IdleMember, *, with_team: bool = False) -> str:
        last = relative_time(member.last_activity, now=now)
        who = mention(people, member.email)
        return line("idle_member", member, last, with_team, who, currency)

    total = len(report.members)
    teams, teams_more = _summary_list(
        (line("idle_team_row", team, currency) for team in report.teams),
        total=len(report.teams),
        limit=teams_in_summary,
    )
    members, members_more = _summary_list(
        (member_row(m, with_team=True) for m in report.members),
        total=total,
        limit=members_in_summary,
    )
    never = report.never_used_members
    never_lines, never_more = _summary_list(
        (line("person_row", m.name, m.email, mention(people, m.email)) for m in never),
        total=len(never),
        limit=members_in_summary,
    )
    unlicensed = report.usage_without_access
    flagged, flagged_more = _summary_list(
        _unlicensed_lines(unlicensed, people), total=len(unlicensed), limit=members_in_summary
    )

    def lines() -> Iterator[Line]:
        for team in report.teams:
            yield Line(line("idle_team", team, currency), heading=True)
            yield from (Line(member_row(member)) for member in team.members)
        if unlicensed:
            yield Line("*Usage without access*", heading=True)
            yield from (Line(text, counted=False) for text in _unlicensed_lines(unlicensed, people))

    thread = _LazyThread(
        "Idle members" + (f": {product_label}" if product_label else ""),
        lines,
        total=total,
        csv_file=(lambda: _idle_csv(report, period_label)) if total else None,
    )
    cost = report.monthly_cost
    message = render(
        "idle",
        report=report,
        product_label=product_label,
        fields=[
            line("seat_field", seat, costs.get(seat.product), currency)
            for costs in [{c.product: c for c in report.costs}]
            for seat in report.seats
            if seat.seats or seat.unknown
        ],
        idle_seats=report.idle_seats,
        idle_members=len(report.seat_members),
        unused_access=report.unused_access,
        access_members=len(report.access_members),
        fully_idle=report.fully_idle,
        never_used=report.never_used,
        cost_total=money(cost, currency) if cost else None,
        costs=[
            f"{c.product.label}: {c.idle_seats:,} × {money(c.price, currency)}"
            for c in report.costs
            if c.monthly
        ],
        unpriced=[p.label for p in report.unpriced],
        never=never_lines,
        never_more=never_more,
        unlicensed=flagged,
        unlicensed_more=flagged_more,
        teams=teams,
        teams_more=teams_more,
        members=members,
        members_more=members_more,
        # The seat admins' "Ask N idle members…" (never on a shared answer: others click it).
        reclaim_ask=reclaim.count if reclaim and not shared_by else 0,
        reclaim_products=list(reclaim.products) if reclaim else [],
        reclaim_period=reclaim.period if reclaim else "",
        **_answer_context(
            period_label=period_label,
            request_id=request_id,
            buttons=buttons,
            shared_by=shared_by,
            has_details=thread.exists,
            link=USERS_PAGE,
            csv_rows=thread.csv_rows,
        ),
    )
    return Answer(summary=message, thread=thread.make)


def _idle_csv(report: IdleSeatsReport, period: str) -> CsvFile:
    header = [
        "name",
        "email",
        "team",
        "role",
        "idle_seats",
        "unused_access",
        "monthly_cost",
        "products",
        "not_reported",
        "fully_idle",
        "never_used",
        "never_ran_a_test",
        "used_without_access",
        "last_activity",
        "days_inactive",
    ]
    rows = (
        [
            m.name,
            m.email,
            m.team,
            m.role,
            m.idle_seats,
            m.unused_access,
            round(m.monthly_cost, 2) if report.costs else None,
            m.products,
            m.unknown_products,
            m.fully_idle,
            m.never_used,
            m.never_tested,
            m.usage_without_access,
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
    """The most active users (minutes plus tests, over every product unless one is asked); the
    whole ranking in the thread, with a CSV."""

    def row(user: TopUser) -> str:
        return line("top_row", user, mention(people, user.email))

    top, more = _summary_list(map(row, users), total=len(users), limit=rows_in_summary)
    thread = _LazyThread(
        "Top users",
        lambda: (Line(row(user)) for user in users),
        total=len(users),
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
            has_details=thread.exists,
            csv_rows=thread.csv_rows,
        ),
    )
    return Answer(summary=message, thread=thread.make)


def _product(user: TopUser) -> str:
    return user.product.label if user.product else "all"


def _top_csv(users: Sequence[TopUser], period: str) -> CsvFile:
    header = ["rank", "name", "email", "team", "product", "activity", "minutes", "tests"]
    rows = (
        (u.rank, u.name, u.email, u.team, _product(u), u.activity, u.minutes_used, u.tests_run)
        for u in users
    )
    return _csv("top-users.csv", f"Top users, {period}", header, rows)
