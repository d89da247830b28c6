"""The Slack stand-in over real HTTP, driven by slack_sdk's own clients and a real Bolt app."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any, cast

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.clock import ShiftedClock, SystemClock
from bot.slack.history import find_marked
from bot.slack.standin import (
    AppDriver,
    Event,
    SlackStandIn,
    sign,
    slash_command,
    url_verification,
)
from bot.slack.standin.payloads import form_body

TOKEN = "xoxb-test"
SECRET = "signing-secret"
USERS = {
    uid: {
        "id": uid,
        "name": name,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "deleted": False,
        "profile": {"email": f"{name}@example.com", "real_name": name.title()},
    }
    for uid, name in [("U0001", "ana"), ("U0002", "bo")]
}


@pytest.fixture
def clock() -> ShiftedClock:
    """The real time (movable): the real Bolt apps below check signatures against it."""
    return ShiftedClock()


@pytest.fixture
def standin(clock: ShiftedClock) -> Iterator[SlackStandIn]:
    with SlackStandIn(
        bot_token=TOKEN,
        users=USERS,
        usergroups={"S0001": ["U0001", "U0002"]},
        member_channels={"C0001"},
        clock=clock,
    ) as server:
        yield server


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=standin.api_url)


def error_of(call: Callable[..., object], **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call(**kwargs)
    return cast(str, caught.value.response["error"])  # SlackResponse items are Any


# --- Web API -------------------------------------------------------------------------------------


def test_auth_test_names_the_bot(client: WebClient) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == "UBOT"
    assert answer["team_id"] == "T0001"
    assert answer["bot_id"] == "B0001"


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
def test_a_bad_or_missing_token_is_refused_with_http_200(
    standin: SlackStandIn, token: str | None, error: str
) -> None:
    client = WebClient(token=token, base_url=standin.api_url)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0001", text="hi")
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == error
    assert standin.channel_messages("C0001") == []


def test_messages_get_increasing_ts_and_threads_hold_replies(
    standin: SlackStandIn, client: WebClient, clock: ShiftedClock
) -> None:
    before = clock.timestamp()
    first = client.chat_postMessage(channel="C0001", text="first")
    second = client.chat_postMessage(channel="C0001", text="second")
    reply = client.chat_postMessage(channel="C0001", text="reply", thread_ts=first["ts"])

    assert before <= float(first["ts"]) <= clock.timestamp()  # Slack's ts: the time it was posted
    assert len(first["ts"].split(".")[1]) == 6
    assert float(first["ts"]) < float(second["ts"]) < float(reply["ts"])
    assert first["message"]["text"] == "first"
    assert [m.text for m in standin.channel_messages("C0001")] == ["first", "second", "reply"]
    assert [m.text for m in standin.thread("C0001", first["ts"])] == ["first", "reply"]
    assert standin.thread("C0001", first["ts"])[1].thread_ts == first["ts"]


def test_form_and_json_bodies_are_both_accepted(standin: SlackStandIn, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    client.chat_postMessage(channel="C0001", text="json", blocks=blocks)  # slack_sdk sends JSON
    form = {"channel": "C0001", "text": "form", "blocks": json.dumps(blocks)}
    client.api_call("chat.postMessage", params=form)

    json_call, form_call = standin.calls_to("chat.postMessage")
    assert json_call.headers["Content-Type"].startswith("application/json")
    assert form_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert [m.blocks for m in standin.channel_messages("C0001")] == [blocks, blocks]


def test_channels_the_bot_is_not_in_refuse_but_dms_always_work(
    standin: SlackStandIn, client: WebClient
) -> None:
    assert error_of(client.chat_postMessage, channel="C0999", text="hi") == "not_in_channel"
    dm = client.conversations_open(users="U0001")["channel"]["id"]
    assert dm.startswith("D")
    assert client.conversations_open(users="U0001")["channel"]["id"] == dm
    assert client.conversations_open(users="U0002")["channel"]["id"] != dm
    assert client.chat_postMessage(channel=dm, text="just you")["channel"] == dm
    assert client.chat_postMessage(channel="U0001", text="by user id")["channel"] == dm
    assert [m.text for m in standin.channel_messages(dm)] == ["just you", "by user id"]


def test_dm_history_lists_top_level_messages_newest_first(client: WebClient) -> None:
    dm = client.conversations_open(users="U0001")["channel"]["id"]
    first = client.chat_postMessage(channel=dm, text="first")["ts"]
    client.chat_postMessage(channel=dm, text="reply", thread_ts=first)
    client.chat_postMessage(channel=dm, text="second")
    history = client.conversations_history(channel=dm, limit=10)["messages"]
    assert [m["text"] for m in history] == ["second", "first"]
    assert len(client.conversations_history(channel=dm, limit=1)["messages"]) == 1
    assert error_of(client.conversations_history, channel="C0999") == "channel_not_found"


def test_replies_list_a_thread_parent_first_in_pages(client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0001", text="parent")["ts"]
    client.chat_postMessage(channel="C0001", text="elsewhere")
    for n in range(3):
        client.chat_postMessage(channel="C0001", text=f"reply {n}", thread_ts=parent)
    whole = client.conversations_replies(channel="C0001", ts=parent)
    assert [m["text"] for m in whole["messages"]] == ["parent", "reply 0", "reply 1", "reply 2"]
    assert whole["has_more"] is False
    first = client.conversations_replies(channel="C0001", ts=parent, limit=3)
    assert [m["text"] for m in first["messages"]] == ["parent", "reply 0", "reply 1"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_replies(channel="C0001", ts=parent, limit=3, cursor=cursor)
    assert [m["text"] for m in rest["messages"]] == ["reply 2"]
    assert rest["has_more"] is False
    assert error_of(client.conversations_replies, channel="C0001", ts="1.000001") == (
        "thread_not_found"
    )
    assert error_of(client.conversations_replies, channel="C0999", ts=parent) == (
        "channel_not_found"
    )


def test_find_marked_reads_a_thread_page_by_page_or_a_channels_top_level(
    standin: SlackStandIn, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel="C0001", text="tally c1")["ts"]
    for n in range(4):
        client.chat_postMessage(channel="C0001", text=f"reply {n}", thread_ts=parent)
    marked = client.chat_postMessage(channel="C0001", text="list c1:release", thread_ts=parent)
    found = find_marked(client, "C0001", "c1:release", thread_ts=parent, page_size=2)
    assert found == marked["ts"]
    assert len(standin.calls_to("conversations.replies")) == 3
    assert find_marked(client, "C0001", "c2:release", thread_ts=parent, page_size=2) is None
    # At the top level only top-level messages count.
    assert find_marked(client, "C0001", "c1:release") is None
    assert find_marked(client, "C0001", "tally c1") == parent


def test_messages_without_text_or_with_invalid_blocks_are_refused(client: WebClient) -> None:
    no_text = {"channel": "C0001"}
    assert error_of(client.api_call, api_method="chat.postMessage", json=no_text) == "no_text"
    header = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
    assert error_of(client.chat_postMessage, channel="C0001", text="x", blocks=[header]) == (
        "invalid_blocks"
    )
    many = [{"type": "divider"}] * 51
    assert (
        error_of(client.chat_postMessage, channel="C0001", text="x", blocks=many)
        == "invalid_blocks"
    )


def test_ephemeral_messages_reach_one_user_and_cannot_be_updated(
    standin: SlackStandIn, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel="C0001", text="parent")["ts"]
    ts = client.chat_postEphemeral(channel="C0001", user="U0001", text="psst", thread_ts=parent)[
        "message_ts"
    ]
    no_user = {"channel": "C0001", "text": "no user"}
    assert error_of(client.api_call, api_method="chat.postEphemeral", json=no_user) == (
        "invalid_arguments"
    )

    (msg,) = standin.ephemeral("C0001", "U0001")
    assert (msg.ts, msg.text, msg.thread_ts, msg.visible_to) == (ts, "psst", parent, "U0001")
    assert standin.ephemeral("C0001", "U0002") == []
    assert [m.text for m in standin.visible_to("U0001", "C0001")] == ["parent", "psst"]
    assert [m.text for m in standin.visible_to("U0002", "C0001")] == ["parent"]
    assert error_of(client.chat_update, channel="C0001", ts=ts, text="x") == "message_not_found"


def test_update_replaces_content_and_delete_removes(
    standin: SlackStandIn, client: WebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "old"}}]
    ts = client.chat_postMessage(channel="C0001", text="old", blocks=blocks)["ts"]
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "new"}}]

    updated = client.chat_update(channel="C0001", ts=ts, text="new", blocks=new_blocks)

    assert updated["message"]["blocks"] == new_blocks
    (msg,) = standin.channel_messages("C0001")
    assert (msg.ts, msg.text, msg.blocks) == (ts, "new", new_blocks)
    assert error_of(client.chat_update, channel="C0001", ts="1.000000", text="x") == (
        "message_not_found"
    )

    client.chat_delete(channel="C0001", ts=ts)
    assert standin.channel_messages("C0001") == []
    assert standin.channel_messages("C0001", include_deleted=True)[0].deleted
    assert error_of(client.chat_delete, channel="C0001", ts=ts) == "message_not_found"


def test_users_and_usergroups(client: WebClient) -> None:
    user = client.users_info(user="U0001")["user"]
    assert (user["name"], user["profile"]["email"], user["is_restricted"]) == (
        "ana",
        "ana@example.com",
        False,
    )
    assert error_of(client.users_info, user="U0404") == "user_not_found"
    assert client.users_lookupByEmail(email="BO@example.com")["user"]["id"] == "U0002"
    assert error_of(client.users_lookupByEmail, email="nobody@example.com") == "users_not_found"
    assert client.usergroups_users_list(usergroup="S0001")["users"] == ["U0001", "U0002"]
    assert error_of(client.usergroups_users_list, usergroup="S0404") == "no_such_subteam"
    assert error_of(client.api_call, api_method="users.nonsense") == "unknown_method"


def test_files_upload_v2_round_trips_the_content(standin: SlackStandIn, client: WebClient) -> None:
    events: list[Event] = []
    standin.on_change = events.append
    parent = client.chat_postMessage(channel="C0001", text="report")["ts"]
    content = b"user,minutes\nana,42\n" * 500

    answer = client.files_upload_v2(
        channel="C0001",
        thread_ts=parent,
        filename="usage.csv",
        title="Usage",
        file=io.BytesIO(content),
        initial_comment="The details",
    )

    assert answer["file"]["name"] == "usage.csv"
    (file,) = standin.files
    assert (file.filename, file.title, file.channel, file.thread_ts) == (
        "usage.csv",
        "Usage",
        "C0001",
        parent,
    )
    assert (file.content, file.initial_comment) == (content, "The details")
    assert [c.method for c in standin.calls][-3:] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]
    share = standin.thread("C0001", parent)[-1]
    assert (share.text, share.files) == ("The details", (file,))
    assert [e.kind for e in events] == ["posted", "file"]


def test_uploads_to_a_channel_the_bot_is_not_in_fail(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        client.files_upload_v2(channel="C0999", filename="a.csv", content="a,b\n")
    assert caught.value.response["error"] == "not_in_channel"


# --- faults --------------------------------------------------------------------------------------


def test_fail_next_429_carries_retry_after_and_the_retry_handler_honours_it(
    standin: SlackStandIn, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin.fail_next("chat.postMessage", status=429, retry_after=2)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0001", text="hi")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "2"
    assert caught.value.response["error"] == "ratelimited"

    # Record the handler's sleep instead of waiting for it.
    slept: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=slept.append))
    retrying = WebClient(
        token=TOKEN,
        base_url=standin.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    standin.fail_next("chat.postMessage", status=429, retry_after=2, count=2)
    assert retrying.chat_postMessage(channel="C0001", text="hi")["ok"]
    assert len(slept) == 2
    assert all(2 <= s < 3 for s in slept)
    assert len(standin.calls_to("chat.postMessage")) == 4
    assert [m.text for m in standin.channel_messages("C0001")] == ["hi"]


def test_fail_next_with_a_server_error_or_an_api_error(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.fail_next("chat.postMessage", status=503)
    standin.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0001", text="hi")
    assert caught.value.response.status_code == 503
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0001", text="hi")
    assert (caught.value.response.status_code, caught.value.response["error"]) == (
        200,
        "channel_not_found",
    )
    assert client.chat_postMessage(channel="C0001", text="hi")["ok"]


# --- response_url --------------------------------------------------------------------------------


def test_a_response_url_takes_five_uses(standin: SlackStandIn) -> None:
    webhook = WebhookClient(standin.new_response_url(channel="C0001", user="U0001"))
    statuses = [webhook.send(text=f"update {n}").status_code for n in range(5)]
    refused = webhook.send(text="one too many")

    assert statuses == [200] * 5
    assert (refused.status_code, refused.body) == (404, "used_url")
    assert len(standin.ephemeral("C0001", "U0001")) == 5
    assert len(standin.calls_to("response_url")) == 6


def test_a_response_url_expires_after_30_minutes(
    standin: SlackStandIn, clock: ShiftedClock
) -> None:
    webhook = WebhookClient(standin.new_response_url(channel="C0001", user="U0001"))
    clock.advance(30 * 60 - 1)
    assert webhook.send(text="just in time").status_code == 200
    clock.advance(2)
    expired = webhook.send(text="too late")
    assert (expired.status_code, expired.body) == (404, "expired_url")

    unknown = WebhookClient(f"{standin.url}/response/nonsense").send(text="?")
    assert (unknown.status_code, unknown.body) == (404, "invalid_url")


def test_faults_on_a_response_url_do_not_use_it_up(standin: SlackStandIn) -> None:
    webhook = WebhookClient(standin.new_response_url(channel="C0001", user="U0001"))
    standin.fail_next("response_url", status=503, count=5)
    assert [webhook.send(text="x").status_code for _ in range(5)] == [503] * 5
    standin.fail_next("response_url", status=429, retry_after=3)
    limited = webhook.send(text="x")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert [webhook.send(text="x").status_code for _ in range(5)] == [200] * 5


def test_replace_and_delete_original_act_on_the_acked_placeholder(
    standin: SlackStandIn, client: WebClient
) -> None:
    url = standin.new_response_url(channel="C0001", user="U0001")
    placeholder = standin.record_ack(url, {"text": "Working on it…"})
    assert placeholder is not None
    webhook = WebhookClient(url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Report*"}}]

    webhook.send(text="Report", blocks=blocks, replace_original=True)
    (shown,) = standin.ephemeral("C0001", "U0001")
    assert (shown.ts, shown.text, shown.blocks) == (placeholder.ts, "Report", blocks)

    webhook.send_dict({"text": "Shared", "response_type": "in_channel", "replace_original": False})
    assert [m.text for m in standin.visible_to("U0001", "C0001")] == ["Report", "Shared"]

    webhook.send_dict({"delete_original": True})
    assert standin.ephemeral("C0001", "U0001") == []
    assert [m.text for m in standin.visible_to("U0001", "C0001")] == ["Shared"]
    assert [m.text for m in standin.visible_to("U0002", "C0001")] == ["Shared"]

    # With the original gone, replace_original has nothing to replace: a new ephemeral appears.
    webhook.send(text="Again", replace_original=True)
    assert [m.text for m in standin.ephemeral("C0001", "U0001")] == ["Again"]


def test_a_post_racing_the_ack_waits_for_it(standin: SlackStandIn) -> None:
    url = standin.new_response_url(channel="C0001", user="U0001", awaiting_ack=True)
    webhook = WebhookClient(url)
    racer = threading.Thread(
        target=webhook.send, kwargs={"text": "Report", "replace_original": True}
    )
    racer.start()
    standin.wait_for(lambda s: s.calls_to("response_url"))  # it has arrived, and is held
    placeholder = standin.record_ack(url, {"text": "Working on it…"})
    racer.join(timeout=5)

    (shown,) = standin.ephemeral("C0001", "U0001")
    assert placeholder is not None
    assert (shown.ts, shown.text) == (placeholder.ts, "Report")


def test_an_in_channel_ack_is_seen_by_everyone(standin: SlackStandIn) -> None:
    url = standin.new_response_url(channel="C0001", user="U0001")
    standin.record_ack(url, {"text": "Posting the report here", "response_type": "in_channel"})
    assert [m.text for m in standin.visible_to("U0002", "C0001")] == ["Posting the report here"]
    assert standin.record_ack(url, {}) is None
    with pytest.raises(ValueError, match="not a response_url"):
        standin.record_ack(f"{standin.url}/response/unknown", {"text": "x"})


def test_response_urls_post_in_channels_the_bot_is_not_in(standin: SlackStandIn) -> None:
    url = standin.new_response_url(channel="C0999", user="U0001")
    response = WebhookClient(url).send_dict(
        {"text": "Team usage", "response_type": "in_channel", "thread_ts": "1.000000"}
    )
    assert response.status_code == 200
    (msg,) = standin.channel_messages("C0999")
    assert (msg.text, msg.thread_ts, msg.ephemeral) == ("Team usage", "1.000000", False)
    assert WebhookClient(url).send_dict({"response_type": "in_channel"}).body == "no_text"


# --- waiting and watching ------------------------------------------------------------------------


def test_wait_for_returns_as_soon_as_the_message_arrives(
    standin: SlackStandIn, client: WebClient
) -> None:
    posted = threading.Event()

    def post_when_waited_for() -> None:
        client.chat_postMessage(channel="C0001", text="hi")
        posted.set()

    timer = threading.Timer(0.1, post_when_waited_for)
    timer.start()
    try:
        messages = standin.wait_for(lambda s: s.channel_messages("C0001"), timeout=5)
    finally:
        timer.join()
    # It returned because the message came, not because the wait ran out.
    assert posted.is_set()
    assert [m.text for m in messages] == ["hi"]


def test_wait_for_times_out_with_the_recent_calls(standin: SlackStandIn, client: WebClient) -> None:
    client.chat_postMessage(channel="C0001", text="not what you wait for")

    def reply_in_thread(s: SlackStandIn) -> list[Any]:
        return s.thread("C0001", "1.000000")

    with pytest.raises(AssertionError) as caught:
        standin.wait_for(reply_in_thread, timeout=0.2)
    report = str(caught.value)
    assert "reply_in_thread" in report
    assert "chat.postMessage" in report
    assert "not what you wait for" in report


def test_on_change_reports_every_visible_change(standin: SlackStandIn, client: WebClient) -> None:
    events: list[Event] = []
    standin.on_change = events.append
    ts = client.chat_postMessage(channel="C0001", text="a")["ts"]
    client.chat_update(channel="C0001", ts=ts, text="b")
    client.chat_postEphemeral(channel="C0001", user="U0001", text="c")
    client.chat_delete(channel="C0001", ts=ts)
    assert [(e.kind, e.msg.text) for e in events] == [
        ("posted", "a"),
        ("updated", "b"),
        ("ephemeral", "c"),
        ("deleted", "b"),
    ]


# --- signatures ----------------------------------------------------------------------------------


def test_signatures_verify_with_slack_sdk() -> None:
    body = form_body(
        slash_command("team", user_id="U0001", channel_id="C0001", response_url="http://x/r/1")
    )
    verifier = SignatureVerifier(SECRET)  # slack_sdk's, on the real time
    now = SystemClock().timestamp()
    assert verifier.is_valid_request(body, sign(body, SECRET, timestamp=now))
    assert not verifier.is_valid_request(body + b"&x=1", sign(body, SECRET, timestamp=now))
    assert not verifier.is_valid_request(body, sign(body, "another-secret", timestamp=now))
    stale = sign(body, SECRET, timestamp=now - 6 * 60)
    assert not verifier.is_valid_request(body, stale)


# --- driving a real Bolt app ---------------------------------------------------------------------


class _BoltServer:
    """A Bolt app behind a loopback HTTP server, as Bolt's own dev server runs one."""

    def __init__(self, app: App) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                outer.requests.append(dict(self.headers.items()))
                response = app.dispatch(BoltRequest(body=body, headers=dict(self.headers.items())))
                data = response.body.encode()
                self.send_response(response.status)
                for name, values in response.headers.items():
                    for value in values:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/slack/events"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def bolt(standin: SlackStandIn) -> Iterator[tuple[_BoltServer, AppDriver]]:
    app = App(client=WebClient(token=TOKEN, base_url=standin.api_url), signing_secret=SECRET)
    share = {
        "type": "button",
        "action_id": "share",
        "value": "team",
        "text": {"type": "plain_text", "text": "Share in channel"},
    }

    @app.command("/usage")
    def usage(ack: Any, respond: Any, command: dict[str, str]) -> None:
        ack(text="Working on it…")
        respond(
            text=f"Usage for {command['text']}",
            blocks=[{"type": "actions", "elements": [share]}],
            replace_original=True,
        )

    @app.action("share")
    def share_it(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        ack()
        respond(text=f"Shared {body['actions'][0]['value']}", response_type="in_channel")
        respond(delete_original=True)

    @app.event("app_mention")
    def mentioned(event: dict[str, str], say: Any) -> None:
        say(text="On it", thread_ts=event.get("thread_ts") or event["ts"])

    server = _BoltServer(app)
    with AppDriver(server.url, SECRET, standin) as driver:
        yield server, driver
    server.stop()


def test_a_command_a_click_and_a_mention_through_bolt(
    standin: SlackStandIn, bolt: tuple[_BoltServer, AppDriver]
) -> None:
    server, driver = bolt
    response = driver.command("team Acme", user="U0001", channel="C0001")
    assert response.status_code == 200
    assert response.elapsed.total_seconds() < 3
    standin.wait_for(lambda s: any(m.blocks for m in s.ephemeral("C0001", "U0001")))
    (answer,) = standin.ephemeral("C0001", "U0001")
    assert answer.text == "Usage for team Acme"

    assert driver.click("share", user="U0001", channel="C0001").status_code == 200
    standin.wait_for(lambda s: not s.ephemeral("C0001", "U0001"))
    assert [m.text for m in standin.visible_to("U0001", "C0001")] == ["Shared team"]

    assert driver.mention("team Acme", user="U0002", channel="C0001").status_code == 200
    # The app may already have replied: find the person's message by its author.
    (question,) = [m for m in standin.channel_messages("C0001") if m.user == "U0002"]
    assert question.text == "<@UBOT> team Acme"
    (reply,) = standin.wait_for(lambda s: s.thread("C0001", question.ts)[1:])
    assert (reply.text, reply.thread_ts) == ("On it", question.ts)

    challenge = driver.event(url_verification("abc123"))
    assert (challenge.status_code, challenge.json()) == (200, {"challenge": "abc123"})

    retry = driver.mention(
        "team Acme", user="U0002", channel="C0001", ts=question.ts, event_id="Ev1", retry_num=1
    )
    assert retry.status_code == 200
    assert server.requests[-1]["X-Slack-Retry-Num"] == "1"
    assert server.requests[-1]["X-Slack-Retry-Reason"] == "http_timeout"
    # This bare app does not dedupe event_ids, so the retry gets a second reply.
    standin.wait_for(lambda s: len(s.thread("C0001", question.ts)) == 3)


def test_unsigned_requests_are_refused_by_bolt(
    standin: SlackStandIn, bolt: tuple[_BoltServer, AppDriver]
) -> None:
    _, driver = bolt
    driver.signing_secret = "not-the-secret"
    assert driver.command("team", user="U0001", channel="C0001").status_code == 401
    assert standin.ephemeral("C0001", "U0001") == []


def test_a_click_waits_for_its_button_and_fails_clearly_without_one(
    standin: SlackStandIn, client: WebClient, bolt: tuple[_BoltServer, AppDriver]
) -> None:
    _, driver = bolt
    button = {
        "type": "button",
        "action_id": "share",
        "value": "later",
        "text": {"type": "plain_text", "text": "Share"},
    }
    blocks = [{"type": "actions", "elements": [button]}]
    timer = threading.Timer(
        0.1,
        client.chat_postEphemeral,
        kwargs={"channel": "C0001", "user": "U0001", "text": "Ready", "blocks": blocks},
    )
    timer.start()
    try:
        assert driver.click("share", user="U0001", channel="C0001").status_code == 200
    finally:
        timer.join()
    standin.wait_for(lambda s: not s.ephemeral("C0001", "U0001"))
    assert [m.text for m in standin.channel_messages("C0001")] == ["Shared later"]

    driver.button_timeout = 0.1
    with pytest.raises(AssertionError, match="No button cancel shown to U0001 in C0001"):
        driver.click("cancel", user="U0001", channel="C0001")


def test_views_publish_records_home_views_per_user(
    standin: SlackStandIn, client: WebClient
) -> None:
    first = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "a"}}],
    }
    second = {"type": "home", "blocks": [{"type": "divider"}] * 60}  # over a message's 50
    client.views_publish(user_id="U0001", view=first)
    client.views_publish(user_id="U0001", view=second)
    assert standin.home_views("U0001") == [first, second]
    assert standin.home_view("U0001") == second
    assert standin.home_view("U0002") is None
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.views_publish(
            user_id="U0001", view={"type": "home", "blocks": [{"type": "divider"}] * 101}
        )
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.views_publish(user_id="U0001", view={"type": "modal", "blocks": []})
    assert len(standin.home_views("U0001")) == 2
