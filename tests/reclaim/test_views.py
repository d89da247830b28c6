"""The campaign's messages: outside strings stay text, the buttons carry what clicks need."""

from __future__ import annotations

import datetime as dt

from bot.browserstack.models import Product
from bot.reclaim import views
from bot.reclaim.rules import USER_MANAGEMENT_URL, ReleaseRow, Tally
from bot.slack.people import NOBODY

NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
HOSTILE = "<!channel> *Eve* <https://evil.test|x>"


def test_the_dm_escapes_the_name_and_shows_the_choice() -> None:
    message = views.dm_message(
        campaign_id="c1",
        email="eve@x.test",
        name=HOSTILE,
        products=(Product.LIVE,),
        last_test=NOW - dt.timedelta(days=45),
        deadline=NOW + dt.timedelta(days=7),
        now=NOW,
    )
    shown = str(message.blocks)
    assert "<!channel>" not in shown
    assert "&lt;!channel&gt;" in shown
    assert "(last test 6 weeks ago)" in shown
    assert "Tue 8 Dec 2026, 12:00 UTC" in shown
    actions = next(b for b in message.blocks if b["type"] == "actions")["elements"]
    assert [(e["action_id"], e["value"]) for e in actions] == [
        ("reclaim_keep", "c1|eve@x.test"),
        ("reclaim_release", "c1|eve@x.test"),
    ]
    answered = views.dm_message(
        campaign_id="c1",
        email="eve@x.test",
        name="Eve",
        products=(Product.LIVE, Product.APP_LIVE),
        last_test=None,
        deadline=NOW,
        now=NOW,
        choice="release",
        is_open=False,
    )
    assert "You chose *Release*" in str(answered.blocks)
    assert not [b for b in answered.blocks if b["type"] == "actions"]  # closed: no buttons
    assert views.parse_value("c1|eve@x.test") == ("c1", "eve@x.test")


def test_the_tally_and_the_release_list_escape_members() -> None:
    tally = views.tally_message(
        Tally(3, 1, 0, 1, 0, 1, 0, 0, 1),
        products=(Product.LIVE,),
        started_by="U0ANA",
        period="2026-11-01..2026-11-30",
        deadline=NOW,
        closed=False,
        not_in_slack=[("eve@x.test", HOSTILE)],
        people=NOBODY,
    )
    assert "<!channel>" not in str(tally.blocks)
    assert "Sending DMs: 2 of 3 done" in str(tally.blocks)
    row = ReleaseRow("eve@x.test", HOSTILE, Product.LIVE, None, 29.0, answered=False)
    release = views.release_message(
        [row], campaign_id="c1", link=USER_MANAGEMENT_URL, people=NOBODY
    )
    assert "<!channel>" not in str(release.blocks)
    assert release.text == "Release list: 1 seat, $29 a month"
    formula = ReleaseRow("f@x.test", "=HYPERLINK(1)", Product.LIVE, None, 29.0, answered=True)
    csv_file = views.release_csv([formula], period="2026-11-01..2026-11-30")
    assert (
        csv_file.content.splitlines()[0] == "member,email,product,idle since,monthly price,answer"
    )
    assert "'=HYPERLINK(1)" in csv_file.content  # a spreadsheet shows it as text
    assert csv_file.filename == "release-list-2026-11-01-to-2026-11-30.csv"


def test_the_dm_the_reminder_and_the_release_list_carry_markers_of_their_own() -> None:
    """What a restarted bot looks for: a reminder's marker is not in the first DM, and the
    release list's is in neither the tally nor the DMs."""

    def dm(*, reminder: bool) -> str:
        message = views.dm_message(
            campaign_id="c1",
            email="eve@x.test",
            name="Eve",
            products=(Product.LIVE,),
            last_test=None,
            deadline=NOW,
            now=NOW,
            reminder=reminder,
        )
        return message.text + str(message.blocks)

    release = views.release_message([], campaign_id="c1", link=USER_MANAGEMENT_URL, people=NOBODY)
    tally = views.tally_message(
        Tally(1, 1, 0, 0, 1, 0, 0, 0, 0),
        products=(Product.LIVE,),
        started_by="U0ANA",
        period="2026-11-01..2026-11-30",
        deadline=NOW,
        closed=True,
        not_in_slack=[],
        people=NOBODY,
    )
    first, reminder = dm(reminder=False), dm(reminder=True)
    assert "c1" in first
    assert views.reminder_marker("c1") in reminder
    assert views.reminder_marker("c1") not in first
    assert views.release_marker("c1") in str(release.blocks)  # even an empty list
    assert views.release_marker("c1") not in str(tally.blocks) + first + reminder
