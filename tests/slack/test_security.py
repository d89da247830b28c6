"""Nothing forged: unverified requests, buttons clicked by the wrong people, secrets in URLs.

Each test sends what an attacker (or a colleague without access) would, over real HTTP, and
checks what reached the Slack stand-in, the BrowserStack sandbox and the logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable

import pytest

from bot.browserstack.sandbox import SandboxServer
from bot.slack.standin import Msg, SlackStandIn, form_body, sign, slash_command
from bot.stack import SIGNING_SECRET, LoopbackStack
from tests.conftest import SandboxFactory
from tests.slack.harness import ANA, BEN, CHANNEL, GUEST, StackFactory, wait_answer

Variant = Callable[[LoopbackStack, bytes], dict[str, str]]


def _signed(stack: LoopbackStack, body: bytes, **changes: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(body, SIGNING_SECRET, timestamp=stack.clock.timestamp()),
    }
    headers.update(changes)
    return {k: v for k, v in headers.items() if v != "<absent>"}


def _signed_as(body: bytes, timestamp: str) -> dict[str, str]:
    """Signed correctly, over a timestamp that is no integer."""
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def _stamped(stack: LoopbackStack, body: bytes, seconds: float) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(body, SIGNING_SECRET, timestamp=stack.clock.timestamp() + seconds),
    }


UNVERIFIED: dict[str, Variant] = {
    "no signature": lambda s, b: _signed(
        s, b, **{"X-Slack-Signature": "<absent>", "X-Slack-Request-Timestamp": "<absent>"}
    ),
    "no timestamp": lambda s, b: _signed(s, b, **{"X-Slack-Request-Timestamp": "<absent>"}),
    "non-numeric timestamp": lambda s, b: _signed(s, b, **{"X-Slack-Request-Timestamp": "abc"}),
    "timestamp not an integer, signed": lambda s, b: _signed_as(b, "1.79e9"),
    "negative timestamp": lambda s, b: _signed(s, b, **{"X-Slack-Request-Timestamp": "-5"}),
    "empty signature": lambda s, b: _signed(s, b, **{"X-Slack-Signature": ""}),
    "forged signature": lambda s, b: _signed(s, b, **{"X-Slack-Signature": "v0=" + "0" * 64}),
    "other secret": lambda s, b: {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(b, "not-the-secret", timestamp=s.clock.timestamp()),
    },
    "stale": lambda s, b: _stamped(s, b, -6 * 60),
    "from the future": lambda s, b: _stamped(s, b, +6 * 60),
}


@pytest.fixture
def quiet_check(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING)
    return caplog


def assert_nothing_left(stack: LoopbackStack, caplog: pytest.LogCaptureFixture) -> None:
    """No call reached Slack (not even auth.test), none reached BrowserStack, nothing logged."""
    assert stack.standin.calls == []
    assert stack.sandbox.stats.requests == 0
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text
    assert stack.bot.store.open_requests() == 0


@pytest.mark.parametrize("variant", list(UNVERIFIED), ids=list(UNVERIFIED))
def test_an_unverified_command_is_refused_and_used_for_nothing(
    stack: LoopbackStack, quiet_check: pytest.LogCaptureFixture, variant: str
) -> None:
    # The forged command names a response_url of the stand-in: a POST to it would show here.
    trap = stack.standin.new_response_url(channel=CHANNEL, user=ANA)
    body = form_body(slash_command("teams", user_id=ANA, channel_id=CHANNEL, response_url=trap))
    headers = UNVERIFIED[variant](stack, body)
    response = stack.driver._http.post(stack.driver.app_url, content=body, headers=headers)
    assert response.status_code == 401
    assert_nothing_left(stack, quiet_check)


@pytest.mark.parametrize(
    "body",
    [b"payload=notjson", b"payload=%7B%22type%22%3A%22block_actions%22%7D", b"\xff\xfe", b""],
    ids=["payload not json", "payload without fields", "not text", "empty"],
)
def test_unsigned_bodies_of_any_shape_are_refused(
    stack: LoopbackStack, quiet_check: pytest.LogCaptureFixture, body: bytes
) -> None:
    response = stack.driver._http.post(
        stack.driver.app_url,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401
    assert_nothing_left(stack, quiet_check)


def test_a_tampered_body_is_refused(
    stack: LoopbackStack, quiet_check: pytest.LogCaptureFixture
) -> None:
    trap = stack.standin.new_response_url(channel=CHANNEL, user=ANA)
    body = form_body(slash_command("teams", user_id=ANA, channel_id=CHANNEL, response_url=trap))
    headers = _signed(stack, body)
    tampered = body.replace(b"teams", b"idle+")
    response = stack.driver._http.post(stack.driver.app_url, content=tampered, headers=headers)
    assert response.status_code == 401
    assert_nothing_left(stack, quiet_check)


def test_an_oversized_body_is_refused_before_it_is_read(stack: LoopbackStack) -> None:
    body = b"text=" + b"a" * (2 << 20)
    response = stack.driver._http.post(
        stack.driver.app_url, content=body, headers=_signed(stack, body)
    )
    assert response.status_code == 413
    assert stack.standin.calls == []


# --- buttons -------------------------------------------------------------------------------------


def public_answer(stack: LoopbackStack) -> tuple[str, Msg]:
    """Ana asks for the teams in public; the request id and the answer everyone sees."""
    stack.driver.command("teams public", user=ANA, channel=CHANNEL)
    answer = stack.standin.wait_for(
        lambda s: next((m for m in s.channel_messages(CHANNEL) if "All teams" in m.text), None)
    )
    request_id = next(
        e["value"]
        for b in answer.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "details"
    )
    return request_id, answer


def click(stack: LoopbackStack, action: str, value: str, *, user: str, message_ts: str) -> None:
    response = stack.driver.click(
        action, value, user=user, channel=CHANNEL, message_ts=message_ts, is_ephemeral=False
    )
    assert response.status_code == 200


def told(standin: SlackStandIn, user: str, words: str) -> Msg:
    return standin.wait_for(
        lambda s: next((m for m in s.ephemeral(CHANNEL, user) if words in m.text), None)
    )


def test_a_guest_cannot_use_the_buttons_of_a_public_answer(stack: LoopbackStack) -> None:
    request_id, answer = public_answer(stack)
    before = len(stack.standin.channel_messages(CHANNEL))
    click(stack, "details", request_id, user=GUEST, message_ts=answer.ts)
    click(stack, "share", request_id, user=GUEST, message_ts=answer.ts)
    assert "guest" in told(stack.standin, GUEST, "guest").text
    stack.standin.wait_for(lambda s: len(s.ephemeral(CHANNEL, GUEST)) == 2)
    assert len(stack.standin.channel_messages(CHANNEL)) == before  # no details, no share


def test_someone_outside_allowed_users_cannot_open_details(make_stack: StackFactory) -> None:
    stack = make_stack(allowed_users=ANA)
    request_id, answer = public_answer(stack)
    before = len(stack.standin.channel_messages(CHANNEL))
    click(stack, "details", request_id, user=BEN, message_ts=answer.ts)
    assert "limited" in told(stack.standin, BEN, "limited").text
    assert len(stack.standin.channel_messages(CHANNEL)) == before


def test_details_go_under_the_requests_own_message_whatever_the_click_claims(
    stack: LoopbackStack,
) -> None:
    request_id, answer = public_answer(stack)
    other = stack.standin.record_user_message(channel=CHANNEL, user=BEN, text="unrelated")
    click(stack, "details", request_id, user=ANA, message_ts=other.ts)
    replies = stack.standin.wait_for(lambda s: s.thread(CHANNEL, answer.ts)[1:])
    assert all(reply.thread_ts == answer.ts for reply in replies)
    assert stack.standin.thread(CHANNEL, other.ts) == [other]  # nothing under the claimed one


def test_details_are_posted_once_however_often_they_are_clicked(stack: LoopbackStack) -> None:
    request_id, answer = public_answer(stack)
    click(stack, "details", request_id, user=ANA, message_ts=answer.ts)

    def details_and_csv(s: SlackStandIn) -> list[Msg] | None:
        replies = s.thread(CHANNEL, answer.ts)[1:]
        return replies if any(reply.files for reply in replies) else None  # the CSV comes last

    first = stack.standin.wait_for(details_and_csv)
    click(stack, "details", request_id, user=BEN, message_ts=answer.ts)
    told(stack.standin, BEN, "already")
    assert stack.standin.thread(CHANNEL, answer.ts)[1:] == first


def test_an_answer_is_shared_once(stack: LoopbackStack) -> None:
    stack.driver.command("user steve@example.com", user=ANA, channel=CHANNEL)
    answer = wait_answer(stack.standin, ANA, "Steve")
    request_id = json.loads(json.dumps(answer.blocks))[-1]["elements"][0]["value"]
    click(stack, "share", request_id, user=ANA, message_ts=answer.ts)
    stack.standin.wait_for(lambda s: s.channel_messages(CHANNEL))
    stack.driver.click("share", request_id, user=ANA, channel=CHANNEL, message_ts=answer.ts)
    told(stack.standin, ANA, "already in the channel")
    assert len(stack.standin.channel_messages(CHANNEL)) == 1


def test_only_the_asker_can_cancel(
    make_stack: StackFactory, sandbox_factory: SandboxFactory
) -> None:
    stack = make_stack(sandbox_factory(queued_seconds=0.5))
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    placeholder = stack.standin.wait_for(
        lambda s: next(
            (m for m in s.ephemeral(CHANNEL, ANA) if ":hourglass" in str(m.blocks)), None
        )
    )
    request_id = next(
        e["value"] for b in placeholder.blocks if b["type"] == "actions" for e in b["elements"]
    )
    stack.driver.click("cancel", request_id, user=BEN, channel=CHANNEL, message_ts=placeholder.ts)
    assert "Only the person who asked" in told(stack.standin, BEN, "Only").text
    wait_answer(stack.standin, ANA, "All teams")  # Ana still gets her answer


def test_a_cancel_for_a_request_that_does_not_exist_changes_nothing(
    stack: LoopbackStack,
) -> None:
    # The placeholder with its Cancel button is shown only once the request is stored, so an
    # unknown id is never a request that is about to be: it is refused, and nothing is kept.
    stack.driver.click(
        "cancel", "0" * 32, user=BEN, channel=CHANNEL, message_ts="1.000001", is_ephemeral=True
    )
    stack.standin.wait_for(
        lambda s: any("no longer known" in str(c.args) for c in s.calls_to("chat.postEphemeral"))
    )
    assert stack.bot.store.request("0" * 32) is None
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "All teams")


# --- secrets -------------------------------------------------------------------------------------


def test_credentials_in_the_browserstack_url_reach_no_message_and_no_log(
    make_stack: StackFactory, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A proxy that takes a password in its URL, and that is down.
    url = "http://proxyuser:hunter2-proxy-secret@127.0.0.1:9/"
    # The deadline leaves time for the first attempt to fail, however busy the machine.
    stack = make_stack(sandbox, browserstack_api_url=url, report_deadline_seconds=2.0)
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    failure = wait_answer(stack.standin, ANA, "not answering")
    shown = json.dumps([c.args for c in stack.standin.calls])
    assert "hunter2-proxy-secret" not in shown
    assert "http://***@127.0.0.1:9" in str(failure.blocks)
    assert "hunter2-proxy-secret" not in caplog.text


def test_credentials_in_a_working_proxy_url_reach_no_log(
    make_stack: StackFactory, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # httpx logs every request's URL; this one carries a proxy's user and password.
    host = sandbox.url.removeprefix("http://")
    stack = make_stack(sandbox, browserstack_api_url=f"http://proxyuser:hunter2-proxy@{host}")
    stack.driver.command("teams", user=ANA, channel=CHANNEL)
    wait_answer(stack.standin, ANA, "All teams")
    assert "HTTP Request" in caplog.text  # httpx did log the requests ...
    assert "http://***@" in caplog.text  # ... with the credentials taken out
    assert "hunter2-proxy" not in caplog.text
