"""The messages of a reclaim campaign: the member's DM, the admins' tally, the release list.

One template each (``templates/reclaim_*.json.j2``); outside strings are escaped there or, for
the pre-rendered list lines, here with ``escape_mrkdwn``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from bot import spreadsheet
from bot.browserstack.models import Product
from bot.reclaim.rules import ReleaseRow, Tally
from bot.reports.humanize import money, relative_time
from bot.slack.messages import CsvFile, Message, escape_mrkdwn, render
from bot.slack.people import People

# Members shown by name in the tally and the release list; the CSV holds them all.
MAX_LISTED = 20


def when(moment: dt.datetime) -> str:
    """A date everyone reads the same: "Tue 8 Dec 2026, 17:45 UTC"."""
    return moment.astimezone(dt.UTC).strftime("%a %-d %b %Y, %H:%M UTC")


def idle_for(last_test: dt.datetime | None, now: dt.datetime) -> str:
    """ "last test 3 months ago", or "no test ever" for a member who never ran one."""
    return "no test ever" if last_test is None else f"last test {relative_time(last_test, now=now)}"


def reminder_marker(campaign_id: str) -> str:
    """What a reminder carries and the first DM does not: a restarted sender finds it."""
    return f"{campaign_id}:reminder"


def release_marker(campaign_id: str) -> str:
    """What the release list carries (and the tally does not), in the admins' thread."""
    return f"{campaign_id}:release"


def ask_value(campaign_id: str, email: str) -> str:
    """What a DM's buttons (and a release row's Done) carry: the campaign and the member."""
    return f"{campaign_id}|{email}"


def parse_value(value: str) -> tuple[str, str | None]:
    campaign_id, _, email = value.partition("|")
    return campaign_id, email or None


def dm_message(
    *,
    campaign_id: str,
    email: str,
    name: str,
    products: Sequence[Product],
    last_test: dt.datetime | None,
    deadline: dt.datetime,
    now: dt.datetime,
    choice: str | None = None,
    is_open: bool = True,
    reminder: bool = False,
) -> Message:
    return render(
        "reclaim_dm",
        name=name,
        products=[p.label for p in products],
        idle=idle_for(last_test, now),
        deadline=when(deadline),
        choice=choice,
        open=is_open,
        reminder=reminder,
        value=ask_value(campaign_id, email),
        marker=reminder_marker(campaign_id) if reminder else campaign_id,
    )


def _member(people: People, email: str, name: str) -> str:
    user_id = people.user_id(email)
    if user_id:
        return f"<@{user_id}>"
    return f"{escape_mrkdwn(name)} ({escape_mrkdwn(email)})"


def tally_message(
    tally: Tally,
    *,
    products: Sequence[Product],
    started_by: str,
    period: str,
    deadline: dt.datetime,
    closed: bool,
    not_in_slack: Sequence[tuple[str, str]],  # (email, name)
    guests: Sequence[tuple[str, str]] = (),
    failed: Sequence[tuple[str, str]] = (),
    savings: str | None = None,
    people: People,
) -> Message:
    lists: list[str] = []
    for title, members in (
        ("Not in Slack (ask them another way)", not_in_slack),
        ("Guests (not asked)", guests),
        ("Could not DM (see the bot's log)", failed),
    ):
        if members:
            names = [_member(people, e, n) for e, n in members[:MAX_LISTED]]
            more = f" and {len(members) - MAX_LISTED} more" if len(members) > MAX_LISTED else ""
            lists.append(f"*{title}:* " + ", ".join(names) + more)
    return render(
        "reclaim_tally",
        tally=tally,
        products=[p.label for p in products],
        started_by=started_by,
        period=period,
        deadline=when(deadline),
        closed=closed,
        lists=lists,
        savings=savings,
    )


def release_message(
    rows: Sequence[ReleaseRow], *, campaign_id: str, link: str, people: People
) -> Message:
    shown = []
    for row in rows[:MAX_LISTED]:
        idle = "never" if row.last_test is None else row.last_test.date().isoformat()
        said = "said *Release*" if row.answered else "no answer"
        done = " · :white_check_mark: done" if row.done else ""
        text = (
            f"{_member(people, row.email, row.name)} · *{row.product.label}* · "
            f"last test {idle} · {money(row.monthly)} a month · {said}{done}"
        )
        shown.append({"text": text, "value": ask_value(campaign_id, row.email), "done": row.done})
    return render(
        "reclaim_release",
        rows=shown,
        more=max(0, len(rows) - MAX_LISTED),
        seats=len(rows),
        monthly=sum(r.monthly for r in rows),
        campaign=campaign_id,
        marker=release_marker(campaign_id),
        link=link,
    )


def release_csv(rows: Sequence[ReleaseRow], *, period: str) -> CsvFile:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["member", "email", "product", "idle since", "monthly price", "answer"])
    for row in rows:
        writer.writerow(
            spreadsheet.row(
                [
                    row.name,
                    row.email,
                    row.product.label,
                    row.last_test.date().isoformat() if row.last_test else "never",
                    f"{row.monthly:.2f}",
                    "release" if row.answered else "no answer",
                ]
            )
        )
    return CsvFile(
        filename=f"release-list-{period.replace('..', '-to-')}.csv",
        title="Release list",
        content=out.getvalue(),
    )
