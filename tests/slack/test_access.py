"""AccessPolicy against the Slack stand-in: who may ask, what Slack is asked, and how often."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.clock import ManualClock, ShiftedClock
from bot.slack.access import AccessPolicy, Admins
from bot.slack.standin import SlackStandIn
from bot.stack import slack_user

TOKEN = "xoxb-test"
TTL = 300.0
ANA, BEN, CAL = "U0ANA", "U0BEN", "U0CAL"
GUEST, ULTRA, ROBOT, GONE = "U0GUEST", "U0ULTRA", "U0ROBOT", "U0GONE"
GROUP = "S0USAGE"


def person(user_id: str, **flags: bool) -> dict[str, Any]:
    """A user as users.info describes one, with ``is_restricted`` and the like overridden."""
    name = user_id.removeprefix("U0").lower()
    user = slack_user(user_id, name=name, email=f"{name}@example.com", real_name=name.title())
    return {**user, **flags}


PEOPLE = {
    ANA: person(ANA),
    BEN: person(BEN),
    CAL: person(CAL),
    GUEST: person(GUEST, is_restricted=True),  # a multi-channel guest
    ULTRA: person(ULTRA, is_ultra_restricted=True),  # a single-channel guest
    ROBOT: person(ROBOT, is_bot=True),
    GONE: person(GONE, deleted=True),
}
FULL_MEMBERS_ONLY = "for full members of this workspace"
LIMITED = "limited to the people your workspace admins chose"
COULD_NOT_CHECK = "I could not check your account with Slack just now. Please try again."


@pytest.fixture
def still(clock: ShiftedClock) -> ManualClock:
    return ManualClock(clock.now())


@pytest.fixture
def standin(still: ManualClock) -> Iterator[SlackStandIn]:
    with SlackStandIn(
        bot_token=TOKEN, users=PEOPLE, usergroups={GROUP: [BEN]}, clock=still
    ) as server:
        yield server


@pytest.fixture
def slack(standin: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=standin.api_url)


def policy(
    slack: WebClient,
    clock: ManualClock,
    *,
    users: frozenset[str] = frozenset(),
    group: str | None = None,
) -> AccessPolicy:
    return AccessPolicy(slack, clock=clock, allowed_users=users, allowed_usergroup=group, ttl=TTL)


@pytest.mark.parametrize(
    ("user", "refused"),
    [
        (ANA, None),
        (GUEST, FULL_MEMBERS_ONLY),
        (ULTRA, FULL_MEMBERS_ONLY),
        (ROBOT, FULL_MEMBERS_ONLY),
        (GONE, FULL_MEMBERS_ONLY),
    ],
    ids=["member", "guest", "single-channel-guest", "bot", "deleted"],
)
def test_only_full_members_may_ask(
    slack: WebClient, still: ManualClock, user: str, refused: str | None
) -> None:
    refusal = policy(slack, still).refusal(user)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refused in refusal


@pytest.mark.parametrize(
    ("users", "group", "allowed"),
    [
        (frozenset({ANA}), None, {ANA}),
        (frozenset(), GROUP, {BEN}),
        (frozenset({ANA}), GROUP, {ANA, BEN}),
    ],
    ids=["allowed-users", "allowed-usergroup", "both"],
)
def test_settings_narrow_who_may_ask(
    slack: WebClient,
    still: ManualClock,
    users: frozenset[str],
    group: str | None,
    allowed: set[str],
) -> None:
    access = policy(slack, still, users=users, group=group)
    for user in (ANA, BEN, CAL):
        refusal = access.refusal(user)
        if user in allowed:
            assert refusal is None, user
        else:
            assert refusal is not None, user
            assert LIMITED in refusal
    # A guest stays refused even when listed: the guest rule comes first.
    listed_guest = policy(slack, still, users=frozenset({GUEST}))
    assert FULL_MEMBERS_ONLY in (listed_guest.refusal(GUEST) or "")


def test_the_person_is_who_slack_says(slack: WebClient, still: ManualClock) -> None:
    ana = policy(slack, still).person(ANA)
    assert (ana.user_id, ana.email) == (ANA, "ana@example.com")
    assert (ana.guest, ana.bot, ana.deleted) == (False, False, False)
    assert policy(slack, still).person(GUEST).guest


def test_people_are_cached_for_the_ttl(
    slack: WebClient, still: ManualClock, standin: SlackStandIn
) -> None:
    access = policy(slack, still)
    for _ in range(3):
        assert access.refusal(ANA) is None
    assert len(standin.calls_to("users.info")) == 1

    standin.users[ANA]["is_restricted"] = True  # Ana becomes a guest
    still.advance(TTL - 1)
    assert access.refusal(ANA) is None  # still the cached answer
    assert len(standin.calls_to("users.info")) == 1

    still.advance(1)
    assert FULL_MEMBERS_ONLY in (access.refusal(ANA) or "")
    assert len(standin.calls_to("users.info")) == 2
    assert access.refusal(BEN) is None  # each person is asked about once
    assert [call.args["user"] for call in standin.calls_to("users.info")] == [ANA, ANA, BEN]


def test_the_usergroup_is_cached_for_the_ttl(
    slack: WebClient, still: ManualClock, standin: SlackStandIn
) -> None:
    access = policy(slack, still, group=GROUP)
    assert access.refusal(BEN) is None
    assert access.refusal(CAL) is not None
    assert len(standin.calls_to("usergroups.users.list")) == 1

    standin.usergroups[GROUP] = [CAL]  # the admins change the group
    still.advance(TTL - 1)
    assert access.refusal(BEN) is None
    assert len(standin.calls_to("usergroups.users.list")) == 1

    still.advance(1)
    assert access.refusal(BEN) is not None
    assert access.refusal(CAL) is None
    assert len(standin.calls_to("usergroups.users.list")) == 2


@pytest.mark.parametrize(
    "fault",
    [{"error": "fatal_error"}, {"status": 429}, {"status": 503}],
    ids=["error", "rate-limited", "http-503"],
)
def test_a_slack_error_gets_a_polite_refusal_and_is_not_cached(
    slack: WebClient, still: ManualClock, standin: SlackStandIn, fault: dict[str, Any]
) -> None:
    access = policy(slack, still)
    standin.fail_next("users.info", **fault)
    assert access.refusal(ANA) == COULD_NOT_CHECK
    assert access.refusal(ANA) is None  # asked again at once, and let in
    assert len(standin.calls_to("users.info")) == 2


def test_an_unknown_user_gets_a_polite_refusal(slack: WebClient, still: ManualClock) -> None:
    assert policy(slack, still).refusal("U0NOBODY") == COULD_NOT_CHECK


def test_a_usergroup_slack_cannot_list_keeps_the_last_members(
    slack: WebClient, still: ManualClock, standin: SlackStandIn
) -> None:
    access = policy(slack, still, group=GROUP)
    assert access.refusal(BEN) is None
    still.advance(TTL)
    standin.fail_next("usergroups.users.list", error="fatal_error")
    assert access.refusal(BEN) is None  # the members Slack last gave
    assert len(standin.calls_to("usergroups.users.list")) == 2

    never_listed = policy(slack, still, group=GROUP)
    standin.fail_next("usergroups.users.list", error="fatal_error")
    assert LIMITED in (never_listed.refusal(BEN) or "")  # nobody is let in on a guess


def test_a_person_carries_the_name_and_email_slack_shows(
    standin: SlackStandIn, slack: WebClient, still: ManualClock
) -> None:
    standin.users["U0PAT"] = {
        "id": "U0PAT",
        "name": "pat",
        "profile": {"real_name": "Pat Doe", "display_name": "pat.d", "email": ""},
    }
    access = policy(slack, still)
    pat = access.person("U0PAT")
    assert (pat.name, pat.email) == ("pat.d", None)  # an empty email is no email
    assert access.person(ANA).name == "Ana"
    assert access.person(ANA).email == "ana@example.com"
    asked = [call.args.get("user") for call in standin.calls_to("users.info")]
    assert asked == ["U0PAT", ANA]  # each once: cached


# --- seat admins (RECLAIM_ADMINS) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "group", "admins"),
    [
        (frozenset(), None, set()),  # unset: nobody, so nothing admin-only ever happens
        (frozenset({ANA}), None, {ANA}),
        (frozenset(), GROUP, {BEN}),
        (frozenset({ANA}), GROUP, {ANA, BEN}),
    ],
    ids=["nobody", "users", "usergroup", "both"],
)
def test_seat_admins_are_the_listed_users_and_the_groups_members(
    slack: WebClient,
    still: ManualClock,
    users: frozenset[str],
    group: str | None,
    admins: set[str],
) -> None:
    policy = Admins(slack, clock=still, user_ids=users, usergroup=group, ttl=TTL)
    assert {u for u in (ANA, BEN, CAL, GUEST) if policy.is_admin(u)} == admins
    for user in (ANA, BEN, CAL):
        refusal = policy.refusal(user)
        if user in admins:
            assert refusal is None
        elif not admins:
            assert "Nobody administers seats" in (refusal or "")
        else:
            assert refusal == "Sorry, only the seat admins named in RECLAIM_ADMINS can do that."


def test_seat_admins_group_is_cached_like_the_access_group(
    slack: WebClient, still: ManualClock, standin: SlackStandIn
) -> None:
    policy = Admins(slack, clock=still, usergroup=GROUP, ttl=TTL)
    assert policy.is_admin(BEN)
    standin.usergroups[GROUP] = [CAL]
    assert policy.is_admin(BEN)  # within the TTL
    still.advance(TTL)
    assert policy.is_admin(CAL)
    assert not policy.is_admin(BEN)
    assert len(standin.calls_to("usergroups.users.list")) == 2
