"""Reclaim campaigns, step by step: start, DM each member once, collect answers, close.

``start`` stores a campaign and its members (``bot.reclaim.rules.candidates``) and posts the
admins' tally. The work loop calls ``run`` on every tick; for each open campaign it

1. sends the DMs that are due, paced by a budget shared by every process (``DM_BUDGET``):
   each member's row is claimed with a lease (state ``sending``), the member found by email,
   the DM channel opened and recorded, the DM posted and its ts recorded at once. A row taken
   over from a dead sender with a DM channel but no ts is checked against that channel's
   history for the campaign's marker first: a DM posted just before a kill -9 is found and
   recorded, not sent again. So each member gets exactly one DM, whatever dies when;
2. halfway to the deadline, reminds the members who have not answered, exactly once: each
   member's reminder is claimed before it is posted and its ts recorded after; a reminder
   claimed with no ts (its sender died in between) is looked for in the DM's history, by the
   marker ``views.reminder_marker``, before it is posted again;
3. at the deadline, posts the release list (and its CSV) in the admins' thread, exactly once:
   the campaign is marked ``closing`` before the post and closed with its ts after; a campaign
   taken over while closing is looked for in the thread (``conversations.replies``, or the
   channel's history at top level) by ``views.release_marker`` before the list is posted.
   Only the holder of the campaign's lease (``claim_campaign``, renewed before each post) does
   2 and 3, so no other process posts the same reminder or list meanwhile;
4. edits the tally when something changed (progress while sending, answers).

Clicks (``answer``, ``done``) come from the Slack listeners; only the DM's recipient may answer,
only admins may mark a release Done. The bot never revokes access: BrowserStack's public API
cannot. ``savings`` checks a later user report for the seats that are gone.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine

from bot.browserstack.models import Product, UserRecord
from bot.budget import SharedBudget
from bot.clock import Clock
from bot.digest.render import ReclaimLines
from bot.reclaim import views
from bot.reclaim.rules import (
    USER_MANAGEMENT_URL,
    AskState,
    Candidate,
    Choice,
    ReleaseRow,
    Savings,
    Tally,
    campaign_products,
    candidates,
    needs_reminder,
    release_list,
    reminder_at,
    savings_line,
    snooze_start,
    tally,
    verify,
)
from bot.reclaim.store import CLOSED, CLOSING, OPEN, REMINDED, Ask, Campaign, ReclaimStore
from bot.reports.analysis import IdleSeatsReport
from bot.reports.leases import Leases
from bot.slack.dms import DirectMessages, Member
from bot.slack.history import find_marked
from bot.slack.messages import Message
from bot.slack.people import NOBODY

log = logging.getLogger(__name__)

# One DM costs a users.lookupByEmail, a conversations.open and a chat.postMessage: Tier 3
# methods (about 50 a minute each). All processes draw from one budget in the database.
DM_BUDGET = "slack|reclaim DMs"
DM_BURST = 10
DMS_PER_MINUTE = 40.0
# A campaign's own lease (reminders, the deadline, tally edits) and a DM's.
CAMPAIGN_HOLD = 60.0
# Slack's answers for a channel the bot cannot post in: the tally goes to the admin's DM.
UNPOSTABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
DM_HOLD = 60.0


@dataclass(frozen=True, slots=True)
class ReclaimPolicy:
    deadline_days: int = 7
    snooze_days: int = 90
    automate: bool = False
    prices: Mapping[Product, float] = field(default_factory=dict)

    @property
    def products(self) -> tuple[Product, ...]:
        return campaign_products(automate=self.automate)


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """What ``/usage reclaim``, the CLI and the App Home show of a campaign."""

    id: str
    started_by: str
    started_at: dt.datetime
    deadline: dt.datetime
    period: str
    products: tuple[Product, ...]
    state: str  # open, reminded, closed
    tally: Tally
    releases: tuple[ReleaseRow, ...]  # at the deadline; empty before
    not_in_slack: tuple[str, ...]
    channel: str
    thread_ts: str | None
    verified: tuple[ReleaseRow, ...] = ()  # releases a later report showed gone


class Refused(Exception):
    """A click or command the clicker may not do; the message says why, politely."""


class ReclaimService:
    def __init__(
        self,
        *,
        engine: Engine,
        slack: WebClient,
        leases: Leases,
        clock: Clock,
        policy: ReclaimPolicy,
        is_admin: Callable[[str], bool],
        budget: SharedBudget | None = None,
    ) -> None:
        self.store = ReclaimStore(engine)
        self.slack = slack
        self.dms = DirectMessages(slack)
        self.leases = leases
        self.clock = clock
        self.policy = policy
        self.is_admin = is_admin
        self.budget = budget or SharedBudget(
            engine, account=DM_BUDGET, burst=DM_BURST, per_minute=DMS_PER_MINUTE, clock=clock
        )
        self._tally_lock = threading.Lock()

    # --- starting ------------------------------------------------------------------------------

    def plan(self, report: IdleSeatsReport) -> list[Candidate]:
        """Who a campaign started now would ask (the report already left out IDLE_EXCLUDE)."""
        now = self.clock.now()
        return candidates(
            report,
            products=self.policy.products,
            snoozed=self.store.snoozed(snooze_start(now, self.policy.snooze_days)),
            prices=self.policy.prices,
        )

    def start(
        self,
        members: Sequence[Candidate],
        *,
        admin: str,
        channel: str,
        thread_ts: str | None,
        period: str,
    ) -> str:
        """Store a campaign and post its tally; its DMs go out from the work loop."""
        if not self.is_admin(admin):
            raise Refused("Sorry, only the seat admins named in RECLAIM_ADMINS can do that.")
        running = self.store.active()
        if running:
            # One at a time: a second click of the button must not ask everyone twice.
            raise Refused(
                "A reclaim campaign is already running (deadline "
                f"{views.when(running[0].deadline)}): see `/usage reclaim`."
            )
        now = self.clock.now()
        deadline = now + dt.timedelta(days=self.policy.deadline_days)
        created = self.store.create(
            members,
            started_by=admin,
            now=now,
            deadline=deadline,
            remind_at=reminder_at(now, deadline),
            period=period,
            products=self.policy.products,
            channel=channel,
            thread_ts=thread_ts,
        )
        if created is None:  # another admin's campaign started a moment ago, on another replica
            raise Refused("A reclaim campaign is already running: see `/usage reclaim`.")
        campaign_id = created
        log.info("reclaim campaign %s started by %s: %d members", campaign_id, admin, len(members))
        self._refresh_tally(campaign_id)
        return campaign_id

    # --- the work loop -------------------------------------------------------------------------

    def run(self) -> None:
        """One pass over the open campaigns (called by every tick of the work loop)."""
        for campaign in self.store.active():
            self._send_due(campaign)
            if not self.store.claim_campaign(campaign.id, self.leases.take(CAMPAIGN_HOLD)):
                continue
            try:
                self._campaign_step(campaign.id)
            finally:
                self.store.update_campaign(
                    campaign.id, self.leases.owner, lease_owner=None, lease_until=None
                )

    def _campaign_step(self, campaign_id: str) -> None:
        campaign = self.store.campaign(campaign_id)
        if campaign is None or campaign.state == CLOSED:
            return
        now = self.clock.now()
        asks = self.store.asks(campaign_id)
        sending = any(a.state in (AskState.PENDING, AskState.SENDING) for a in asks)
        if campaign.state == OPEN and now >= campaign.remind_at and not sending:
            self._remind(campaign, asks)
        if now >= campaign.deadline and not sending:
            self._close(campaign)
        latest = self.store.campaign(campaign_id)
        if latest is not None and latest.tally_dirty:
            self._refresh_tally(campaign_id)

    def _send_due(self, campaign: Campaign) -> None:
        lease = self.leases.take(DM_HOLD)
        for email in self.store.due_asks(campaign.id, lease, limit=DM_BURST):
            if self.budget.take() > 0:
                return  # Slack's pace: the rest at later ticks
            ask = self.store.claim_ask(campaign.id, email, self.leases.take(DM_HOLD))
            if ask is None:
                continue  # another process took it
            try:
                self._send(campaign, ask)
            except SlackApiError as error:
                code = str(error.response.get("error"))
                log.warning("reclaim DM to %s failed: %s", email, code)
                if code == "ratelimited":
                    self.budget.drain()
                    self._release(campaign.id, email)
                    return
                self._finish(campaign.id, email, state=AskState.FAILED, error=code[:100])
            except Exception:
                self._release(campaign.id, email)
                raise
            self.store.mark_dirty(campaign.id)

    def _send(self, campaign: Campaign, ask: Ask) -> None:
        owner = self.leases.owner
        channel = ask.dm_channel
        if ask.state is AskState.SENDING and channel:
            # Taken over: the dead sender may have posted before it could record the ts.
            found = self.dms.find_marked(channel, campaign.id)
            if found:
                log.info("reclaim DM to %s was sent before a restart: recorded", ask.email)
                self._finish(campaign.id, ask.email, state=AskState.SENT, dm_ts=found)
                return
        if channel is None:
            found_member = self.dms.find(ask.email)
            if found_member.status is Member.NOT_IN_SLACK:
                self._finish(campaign.id, ask.email, state=AskState.NOT_IN_SLACK)
                return
            if found_member.status is Member.GUEST:
                self._finish(
                    campaign.id, ask.email, state=AskState.GUEST, user_id=found_member.user_id
                )
                return
            assert found_member.user_id is not None
            channel = self.dms.open(found_member.user_id)
            # Recorded before posting: from here a takeover checks the channel's history.
            if not self.store.update_ask(
                campaign.id,
                ask.email,
                owner=owner,
                user_id=found_member.user_id,
                dm_channel=channel,
            ):
                return  # the lease was lost: the new holder sends
        message = _dm(campaign, ask, now=self.clock.now())
        ts = self.dms.post(channel, message.payload())
        self._finish(campaign.id, ask.email, state=AskState.SENT, dm_ts=ts)

    def _finish(self, campaign_id: str, email: str, *, state: AskState, **values: Any) -> None:
        self.store.update_ask(
            campaign_id, email, state=state.value, lease_owner=None, lease_until=None, **values
        )

    def _release(self, campaign_id: str, email: str) -> None:
        """Give a DM back (it stays ``sending``: the next one checks the history first)."""
        self.store.update_ask(
            campaign_id, email, owner=self.leases.owner, lease_owner=None, lease_until=None
        )

    def _hold(self, campaign_id: str) -> bool:
        """Renew this process's campaign lease before a post; False once another took it over
        (a step slower than ``CAMPAIGN_HOLD``): then this one posts nothing more."""
        until = self.leases.take(CAMPAIGN_HOLD).until
        return self.store.update_campaign(campaign_id, self.leases.owner, lease_until=until)

    def _remind(self, campaign: Campaign, asks: Sequence[Ask]) -> None:
        # Each member's reminder is claimed before it is posted and its ts recorded after, and
        # the campaign is marked reminded only after the last. A reminder claimed with no ts
        # was being posted by a step that died: its DM's history says whether it got there.
        # Only the campaign's lease holder gets here, so nobody else is posting it meanwhile.
        now = self.clock.now()
        for ask in asks:
            if not needs_reminder(ask.view()) or ask.reminder_ts or not ask.dm_channel:
                continue
            if not self._hold(campaign.id):
                return  # taken over: the new holder reminds the rest
            marker = views.reminder_marker(campaign.id)
            try:
                if ask.reminded:
                    found = self.dms.find_marked(ask.dm_channel, marker)
                    if found:
                        log.info("reclaim reminder to %s was sent before a restart", ask.email)
                        self.store.record_reminder(campaign.id, ask.email, found)
                        continue
                elif not self.store.claim_reminder(campaign.id, ask.email):
                    continue
                message = _dm(campaign, ask, now=now, reminder=True)
                ts = self.dms.post(ask.dm_channel, message.payload())
            except SlackApiError as error:
                code = str(error.response.get("error"))
                if code == "ratelimited":
                    # Claimed, not posted: the next step checks the history and posts it.
                    log.info("reclaim reminders: rate-limited, the rest at a later tick")
                    return
                log.warning("reclaim reminder to %s failed: %s", ask.email, code)
                continue
            self.store.record_reminder(campaign.id, ask.email, ts)
        self.store.update_campaign(campaign.id, self.leases.owner, state=REMINDED)
        log.info("reclaim campaign %s: reminders sent", campaign.id)

    def _close(self, campaign: Campaign) -> None:
        # Marked closing before the list is posted and closed (with its ts) after: a campaign
        # found closing was being closed by a step that died, and the list may be in the thread.
        rows = release_list((a.view() for a in self.store.asks(campaign.id)), self.policy.prices)
        thread = campaign.thread_ts or campaign.tally_ts
        if not self._hold(campaign.id):
            return
        ts: str | None = None
        if campaign.state == CLOSING:
            ts = self._posted_release(campaign, thread)
            if ts:
                log.info("reclaim campaign %s: its release list was found posted", campaign.id)
        elif not self.store.update_campaign(campaign.id, self.leases.owner, state=CLOSING):
            return
        if ts is None:
            message = views.release_message(
                rows, campaign_id=campaign.id, link=USER_MANAGEMENT_URL, people=NOBODY
            )
            ts = self.slack.chat_postMessage(
                channel=campaign.channel, thread_ts=thread, **message.payload()
            )["ts"]
        self.store.record_release(campaign.id, ts)
        if rows:
            upload = views.release_csv(rows, period=campaign.period)
            try:
                self.slack.files_upload_v2(
                    channel=campaign.channel,
                    thread_ts=thread,
                    filename=upload.filename,
                    title=upload.title,
                    file=io.BytesIO(upload.content.encode()),
                )
            except SlackApiError as error:
                log.warning("the release list's CSV failed: %s", error.response.get("error"))
        log.info("reclaim campaign %s closed: %d seats to release", campaign.id, len(rows))

    def _posted_release(self, campaign: Campaign, thread: str | None) -> str | None:
        """The release list's ts if it is already in the admins' thread (or channel)."""
        marker = views.release_marker(campaign.id)
        try:
            return find_marked(self.slack, campaign.channel, marker, thread_ts=thread)
        except SlackApiError as error:
            code = str(error.response.get("error"))
            if code == "ratelimited":
                raise  # the next tick checks again
            # Unreadable (a scope not granted yet, the thread gone): a second list beats none.
            log.warning(
                "reclaim campaign %s: cannot read the admins' thread (%s) to check for its "
                "release list; posting it (it may show twice)",
                campaign.id,
                code,
            )
            return None

    # --- the tally -----------------------------------------------------------------------------

    def _tally_message(self, campaign: Campaign, asks: Sequence[Ask]) -> Message:
        def people(state: AskState) -> list[tuple[str, str]]:
            return [(a.email, a.name) for a in asks if a.state is state]

        return views.tally_message(
            tally(a.view() for a in asks),
            products=campaign.products,
            started_by=campaign.started_by,
            period=campaign.period,
            deadline=campaign.deadline,
            closed=campaign.state == CLOSED,
            not_in_slack=people(AskState.NOT_IN_SLACK),
            guests=people(AskState.GUEST),
            failed=people(AskState.FAILED),
            people=NOBODY,
        )

    def _refresh_tally(self, campaign_id: str) -> None:
        """Post the tally (once) or edit it to what the database says now."""
        with self._tally_lock:
            # Cleared before reading: a change made meanwhile sets it again.
            self.store.update_campaign(campaign_id, tally_dirty=False)
            campaign = self.store.campaign(campaign_id)
            if campaign is None:
                return
            message = self._tally_message(campaign, self.store.asks(campaign_id))
            try:
                if campaign.tally_ts is None:
                    posted = self.slack.chat_postMessage(
                        channel=campaign.channel, thread_ts=campaign.thread_ts, **message.payload()
                    )
                    if posted.get("channel") and posted["channel"] != campaign.channel:
                        # Posted to a user id (the Home tab's button): edits need the DM's id.
                        self.store.update_campaign(campaign_id, channel=posted["channel"])
                    self.store.set_tally_ts(campaign_id, posted["ts"])
                else:
                    self.slack.chat_update(
                        channel=campaign.channel, ts=campaign.tally_ts, **message.payload()
                    )
            except SlackApiError as error:
                code = error.response.get("error")
                if campaign.tally_ts is None and code in UNPOSTABLE:
                    # Started where the bot is not (a /usage in any channel): the admin's DM.
                    log.info(
                        "reclaim tally: %s in %s, so in the admin's DM", code, campaign.channel
                    )
                    reply = self.slack.chat_postMessage(
                        channel=campaign.started_by, **message.payload()
                    )
                    self.store.update_campaign(
                        campaign_id, channel=reply["channel"], thread_ts=None
                    )
                    self.store.set_tally_ts(campaign_id, reply["ts"])
                    return
                log.warning("the reclaim tally failed: %s", code)
                self.store.mark_dirty(campaign_id)

    # --- clicks --------------------------------------------------------------------------------

    def answer(
        self, value: str, choice: Choice, *, user_id: str, channel: str | None, ts: str | None
    ) -> None:
        """A member's Keep or Release; Refused for anyone but the DM's recipient."""
        campaign_id, email = views.parse_value(value)
        campaign = self.store.campaign(campaign_id)
        ask = self.store.ask(campaign_id, email) if campaign and email else None
        if campaign is None or ask is None:
            raise Refused("I cannot find this question any more.")
        if ask.user_id != user_id:
            raise Refused("Sorry, only the person this message was sent to can answer it.")
        now = self.clock.now()
        if campaign.state == CLOSED or now >= campaign.deadline:
            raise Refused("Sorry, the deadline for this question has passed: ask a seat admin.")
        self.store.update_ask(campaign_id, ask.email, choice=choice.value, answered_at=now)
        targets = {(ask.dm_channel, ask.dm_ts), (channel, ts)}
        for target_channel, target_ts in targets:
            if target_channel and target_ts:
                message = _dm(
                    campaign,
                    ask,
                    now=now,
                    choice=choice.value,
                    # A click on the reminder keeps it a reminder (and its marker).
                    reminder=target_ts != ask.dm_ts,
                )
                self.dms.update(target_channel, target_ts, message.payload())
        log.info("reclaim campaign %s: %s answered %s", campaign_id, ask.email, choice.value)
        self._refresh_tally(campaign_id)

    def done(self, value: str, *, user_id: str) -> int:
        """An admin marks one release (or all of a campaign's) Done; the release list is edited."""
        if not self.is_admin(user_id):
            raise Refused("Sorry, only the seat admins named in RECLAIM_ADMINS can do that.")
        campaign_id, email = views.parse_value(value)
        campaign = self.store.campaign(campaign_id)
        if campaign is None:
            raise Refused("I cannot find this campaign any more.")
        marked = self.store.mark_done(campaign_id, email)
        if campaign.release_ts:
            rows = release_list(
                (a.view() for a in self.store.asks(campaign_id)), self.policy.prices
            )
            message = views.release_message(
                rows, campaign_id=campaign_id, link=USER_MANAGEMENT_URL, people=NOBODY
            )
            self.slack.chat_update(
                channel=campaign.channel, ts=campaign.release_ts, **message.payload()
            )
        return marked

    # --- reading -------------------------------------------------------------------------------

    def summary(self, campaign_id: str | None = None) -> CampaignSummary | None:
        """The campaign (the latest by default), as the admins' views show it."""
        campaign = self.store.campaign(campaign_id) if campaign_id else self.store.latest()
        return None if campaign is None else _summary(self.store, campaign, self.policy.prices)

    def releases(self, since: dt.datetime | None = None) -> list[ReleaseRow]:
        """Every release list of campaigns closed since ``since``."""
        rows: list[ReleaseRow] = []
        for campaign in self.store.closed(since):
            asks = [a.view() for a in self.store.asks(campaign.id)]
            rows += release_list(asks, self.policy.prices)
        return rows

    def savings(
        self, member: Callable[[str], UserRecord | None], *, since: dt.datetime | None = None
    ) -> Savings:
        """Released seats that a later user report (``member`` finds its members) shows gone."""
        return verify(self.releases(since), member, self.policy.prices)

    def record(self, savings: Savings) -> None:
        """Remember what a report verified (``/usage reclaim`` shows it), and take Done back
        from members who still hold the seat: they are on the release list again."""
        gone: dict[tuple[str, str], list[Product]] = {}
        for row in savings.reclaimed:
            gone.setdefault((row.campaign_id, row.email), []).append(row.product)
        for (campaign_id, email), products in gone.items():
            keys = ",".join(p.value for p in products)
            self.store.update_ask(campaign_id, email, reclaimed=keys)
        for row in savings.still_held:
            self.store.update_ask(row.campaign_id, row.email, done=False)

    def digest_part(
        self, member: Callable[[str], UserRecord | None], idle: IdleSeatsReport
    ) -> ReclaimLines | None:
        """The org-wide digest's reclaim part: what was saved, and the campaign button.

        Members marked Done who still hold the seat in this report lose their Done: they are
        on the release list again.
        """
        now = self.clock.now()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        total = self.savings(member)
        this_month = self.savings(member, since=month)
        self.record(total)
        parts = [
            savings_line(this_month),
            (savings_line(total, period="in total") if total.total_seats else None),
        ]
        if total.still_held:
            held = ", ".join(f"{r.email} ({r.product.label})" for r in total.still_held[:10])
            parts.append(f"Marked done but still held, so listed again: {held}")
        text = ". ".join(p for p in parts if p) or None
        ask = len(self.plan(idle))
        if not text and not ask:
            return None
        return ReclaimLines(
            reclaimed=text, ask=ask, products=tuple(p.label for p in self.policy.products)
        )


def _summary(
    store: ReclaimStore, campaign: Campaign, prices: Mapping[Product, float]
) -> CampaignSummary:
    asks = store.asks(campaign.id)
    views_ = [a.view() for a in asks]
    releases = release_list(views_, prices) if campaign.state == CLOSED else []
    gone = {(a.email, p) for a in asks for p in a.reclaimed}
    return CampaignSummary(
        id=campaign.id,
        started_by=campaign.started_by,
        started_at=campaign.started_at,
        deadline=campaign.deadline,
        period=campaign.period,
        products=campaign.products,
        state=campaign.state,
        tally=tally(views_),
        releases=tuple(releases),
        verified=tuple(r for r in releases if (r.email, r.product) in gone),
        not_in_slack=tuple(a.email for a in asks if a.state is AskState.NOT_IN_SLACK),
        channel=campaign.channel,
        thread_ts=campaign.thread_ts,
    )


def _dm(
    campaign: Campaign,
    ask: Ask,
    *,
    now: dt.datetime,
    reminder: bool = False,
    choice: str | None = None,
) -> Message:
    """A member's DM (or its reminder), showing their ``choice`` once they made one."""
    return views.dm_message(
        campaign_id=campaign.id,
        email=ask.email,
        name=ask.name,
        products=ask.products,
        last_test=ask.last_test,
        deadline=campaign.deadline,
        now=now,
        reminder=reminder,
        choice=choice,
    )


def current_campaign(
    engine: Engine, prices: Mapping[Product, float] | None = None
) -> CampaignSummary | None:
    """The latest campaign, for readers outside the service (the App Home, the CLI)."""
    store = ReclaimStore(engine)
    campaign = store.latest()
    return None if campaign is None else _summary(store, campaign, prices or {})


__all__ = [
    "CampaignSummary",
    "ReclaimPolicy",
    "ReclaimService",
    "Refused",
    "current_campaign",
    "savings_line",
]
