"""A stand-in for Slack on loopback: the Web API, response_urls and file uploads, over real HTTP.

Stdlib ``ThreadingHTTPServer`` on daemon threads, the way bolt-python tests itself. Every request is
recorded as a ``Call``, then goes through, in order: injected faults, auth (API methods only),
routing. State lives behind one re-entrant lock whose condition is notified on every change, so
tests block in ``wait_for`` instead of sleeping. ``response_url`` lifetimes read the injected clock.

Where Slack's behaviour is not pinned down, the stand-in assumes (the bot must not rely on these):

- Missing token: ``not_authed``; wrong token: ``invalid_auth`` (both HTTP 200, as Slack answers).
- Postable channels: ``member_channels`` and every ``D…`` id; ``U…`` as a channel means that
  user's DM. Anything else is ``not_in_channel``. ``response_url`` posts work in any channel.
- With no ``users`` given, any user id is accepted where one is needed.
- Blocks are checked with slack_sdk's own validation plus the 50-block and 10×2000-char field
  limits; failures answer ``invalid_blocks``. ``text`` past 40,000 characters is truncated.
- A ``response_url``'s "original" is the last ephemeral message it created (the ack placeholder,
  or the clicked message when made with ``original_ts``). ``in_channel`` posts do not become it.
  ``replace_original`` keeps the original's visibility; with no original left it posts anew.
- A shared file appears as a channel message carrying it (text = ``initial_comment``).
- A post to a command's response_url waits (up to 3 s) until the driver has recorded the ack:
  Slack has the ack, its own request's answer, long before the app's post can reach it.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.clock import Clock, SystemClock
from bot.loopback import LoopbackServer

log = logging.getLogger(__name__)

T = TypeVar("T")
EventKind = Literal["posted", "updated", "deleted", "ephemeral", "file"]

BOT_ID = "B0001"
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60.0
ACK_DEADLINE = 3.0  # Slack gives up on an app's ack after this long
MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100  # a Home tab or modal view
_STATUS_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}


@dataclass(frozen=True)
class Call:
    """One request received: ``method`` is the API method, ``response_url`` or ``file_upload``."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass(frozen=True)
class UploadedFile:
    """A file completed through ``files.completeUploadExternal``."""

    id: str
    filename: str
    title: str
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class Msg:
    """A message as Slack holds it: ``user`` wrote it; ``visible_to`` alone sees an ephemeral."""

    ts: str
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    ephemeral: bool = False
    deleted: bool = False
    visible_to: str | None = None
    files: tuple[UploadedFile, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The message as the Web API and interaction payloads show it."""
        message: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
        }
        if self.blocks:
            message["blocks"] = self.blocks
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.files:
            message["files"] = [
                {"id": f.id, "name": f.filename, "title": f.title} for f in self.files
            ]
        return message


@dataclass(frozen=True)
class Event:
    """A change someone watching the workspace would see."""

    kind: EventKind
    msg: Msg


@dataclass
class _ResponseUrl:
    channel: str
    user: str
    created: float
    uses: int = 0
    original: str | None = None  # ts of the message replace_/delete_original act on
    awaiting_ack: bool = False


@dataclass
class _Upload:
    filename: str
    length: int
    content: bytes | None = None


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int
    error: str | None


@dataclass(frozen=True)
class _Reply:
    """A whole HTTP answer, as the handler will send it."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class _ApiError(Exception):
    """A Web API refusal: ``{"ok": false, "error": code}`` with HTTP 200."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class SlackStandIn:
    """Slack on loopback: ``start()`` serves on a daemon thread; also a context manager."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",  # noqa: S107 (a test token)
        team_id: str = "T0001",
        bot_user_id: str = "UBOT",
        users: Mapping[str, Mapping[str, Any]] | None = None,
        usergroups: Mapping[str, Iterable[str]] | None = None,
        member_channels: Iterable[str] = (),
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.users = {uid: dict(user) for uid, user in (users or {}).items()}
        self.usergroups = {gid: list(members) for gid, members in (usergroups or {}).items()}
        self.member_channels = set(member_channels)
        self.on_change: Callable[[Event], None] | None = None
        self.clock = clock or SystemClock()
        # Re-entrant so that a wait_for predicate or on_change callback may call the accessors.
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._messages: list[Msg] = []
        self._index: dict[tuple[str, str], int] = {}
        self._files: list[UploadedFile] = []
        self._uploads: dict[str, _Upload] = {}
        self._dms: dict[str, str] = {}
        # views.publish: every Home tab view published, per user, oldest first.
        self._home_views: dict[str, list[dict[str, Any]]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._last_ts = 0  # microseconds
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.getPermalink": self._permalink,
            "conversations.open": self._open,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "views.publish": self._publish_view,
            "users.info": self._user_info,
            "users.lookupByEmail": self._lookup_by_email,
            "usergroups.users.list": self._usergroup_users,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        self._httpd = LoopbackServer((host, port), self, name="Slack stand-in")

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return self._httpd.url

    @property
    def api_url(self) -> str:
        """The Web API base for ``WebClient(base_url=...)``."""
        return f"{self.url}/api/"

    def start(self) -> SlackStandIn:
        """Serve on a daemon thread until ``stop()``."""
        self._httpd.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.stop()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what tests and the demo drive -----------------------------------------------------------

    def new_response_url(
        self,
        *,
        channel: str,
        user: str,
        original_ts: str | None = None,
        awaiting_ack: bool = False,
    ) -> str:
        """A new response_url for ``user`` in ``channel``.

        ``original_ts`` is the message it acts on (a clicked one). With ``awaiting_ack``, posts to
        it wait (up to 3 s) for ``record_ack``: Slack holds the ack before any post can reach it.
        """
        url_id = secrets.token_urlsafe(12)
        with self._cond:
            self._response_urls[url_id] = _ResponseUrl(
                channel,
                user,
                self.clock.timestamp(),
                original=original_ts,
                awaiting_ack=awaiting_ack,
            )
        return f"{self.url}/response/{url_id}"

    def record_ack(self, response_url: str, body: Mapping[str, Any] | None) -> Msg | None:
        """Show an HTTP ack body as Slack does; it becomes that response_url's original."""
        with self._cond:
            state = self._response_urls.get(response_url.rsplit("/", 1)[-1])
            if state is None:
                raise ValueError(f"not a response_url of this stand-in: {response_url}")
            state.awaiting_ack = False
            self._cond.notify_all()
            if not body or not (body.get("text") or body.get("blocks")):
                return None
            try:
                text, blocks = _content(body)
            except _ApiError as error:  # Slack would show the user an error instead
                raise ValueError(f"Slack refuses this ack: {error.code} {error.extra}") from None
            if body.get("response_type") == "in_channel":
                return self._add(self._msg(state.channel, text, blocks), "posted")
            msg = self._msg(state.channel, text, blocks, ephemeral=True, visible_to=state.user)
            state.original = msg.ts
            return self._add(msg, "ephemeral")

    def record_user_message(
        self, *, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> Msg:
        """A message a person wrote (e.g. the one an ``app_mention`` is about)."""
        with self._cond:
            msg = replace(self._msg(channel, text, [], thread_ts=thread_ts), user=user)
            return self._add(msg, "posted")

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        count: int = 1,
        error: str | None = None,
    ) -> None:
        """Fail the next ``count`` calls of ``method`` (also ``response_url``, ``file_upload``).

        HTTP ``status`` (429 with ``Retry-After``), or HTTP 200 ``{"ok": false, "error": error}``
        when ``error`` is given (a response_url answers that error as text: 404 for ``*_url``).
        """
        with self._cond:
            self._faults.setdefault(method, deque()).extend(
                [_Fault(status, retry_after, error)] * count
            )

    def slow_down(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` (or ``response_url``) ``seconds`` late, as a busy
        Slack would; the call is recorded, and takes effect, before the wait."""
        with self._cond:
            self._delays[method] = seconds

    def reset(self) -> None:
        """Forget calls, messages, files, response_urls, pending faults and delays."""
        with self._cond:
            for state in (self._calls, self._messages, self._files):
                state.clear()
            self._home_views.clear()
            for mapping in (
                self._index,
                self._uploads,
                self._response_urls,
                self._faults,
                self._delays,
            ):
                mapping.clear()
            self._cond.notify_all()

    # --- state for assertions --------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request so far, oldest first."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [call for call in self._calls if call.method == method]

    @property
    def files(self) -> list[UploadedFile]:
        """Files completed through ``files.completeUploadExternal``, oldest first."""
        with self._cond:
            return list(self._files)

    def message(self, channel: str, ts: str) -> Msg | None:
        """The message (even ephemeral or deleted) at ``ts`` in ``channel``."""
        with self._cond:
            index = self._index.get((channel, ts))
            return None if index is None else self._messages[index]

    def channel_messages(self, channel: str, *, include_deleted: bool = False) -> list[Msg]:
        """Everyone's view of ``channel``: top-level messages and thread replies, oldest first."""
        with self._cond:
            return [
                m
                for m in self._messages
                if m.channel == channel and not m.ephemeral and (include_deleted or not m.deleted)
            ]

    def thread(self, channel: str, ts: str) -> list[Msg]:
        """The parent at ``ts`` and its replies (not ephemerals), oldest first."""
        return [m for m in self.channel_messages(channel) if ts in (m.ts, m.thread_ts)]

    def ephemeral(self, channel: str, user: str) -> list[Msg]:
        """Ephemeral messages ``user`` currently sees in ``channel``."""
        with self._cond:
            return [
                m
                for m in self._messages
                if m.channel == channel and m.ephemeral and m.visible_to == user and not m.deleted
            ]

    def visible_to(self, user: str, channel: str) -> list[Msg]:
        """What ``user`` sees in ``channel`` (threads included): everyone's and their ephemerals."""
        with self._cond:
            return [
                m
                for m in self._messages
                if m.channel == channel
                and not m.deleted
                and (not m.ephemeral or m.visible_to == user)
            ]

    def home_views(self, user: str) -> list[dict[str, Any]]:
        """Every Home tab view published for ``user`` (``views.publish``), oldest first."""
        with self._cond:
            return list(self._home_views.get(user, []))

    def home_view(self, user: str) -> dict[str, Any] | None:
        """What ``user``'s Home tab shows now: the last view published for them."""
        views = self.home_views(user)
        return views[-1] if views else None

    def dm_channel(self, user: str) -> str:
        """The DM channel id ``conversations.open`` gives for ``user``."""
        with self._cond:
            return self._dms.setdefault(user, f"D{len(self._dms) + 1:04d}")

    def wait_for(
        self,
        predicate: Callable[[SlackStandIn], T | None],
        timeout: float = 10,
        *,
        recheck: float | None = None,
    ) -> T:
        """Block until ``predicate(self)`` is truthy and return that; AssertionError on timeout.

        The predicate is checked whenever Slack sees a call; ``recheck`` also checks it that
        often, for a predicate that reads something else too (a database the bot writes).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_report(predicate, timeout))
                self._cond.wait(min(remaining, recheck) if recheck else remaining)
            return result

    def _timeout_report(self, predicate: Callable[..., Any], timeout: float) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        lines = [f"Slack stand-in: {name} still false after {timeout:g}s."]
        lines.append(f"Last calls (of {len(self._calls)}):")
        lines += [f"  {_describe_call(call)}" for call in self._calls[-15:]] or ["  (none)"]
        lines.append("Messages:")
        lines += [f"  {_describe_msg(m)}" for m in self._messages[-15:]] or ["  (none)"]
        return "\n".join(lines)

    # --- answering -------------------------------------------------------------------------------

    def unreadable(self) -> _Reply:
        """A request body that could not be read."""
        return _text(400, "invalid_request")

    def handle(self, verb: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        """Answer one request; the HTTP handler only moves bytes."""
        url = urlsplit(target)
        kind, _, rest = url.path.lstrip("/").partition("/")
        try:
            if kind == "api" and verb in ("GET", "POST"):
                return self._late(rest, self._api(rest, url.query, headers, body))
            if kind == "response" and verb == "POST":
                return self._late("response_url", self._respond(rest, headers, body))
            if kind == "upload" and verb == "POST":
                return self._receive_upload(rest, headers, body)
        except Exception:
            log.debug("Slack stand-in failed answering %s %s", verb, target, exc_info=True)
            return _text(500, "internal_error")
        return _text(404, "not_found")

    def _late(self, method: str, reply: _Reply) -> _Reply:
        with self._cond:
            delay = self._delays.get(method, 0.0)
        if delay:
            threading.Event().wait(delay)  # the stand-in plays a slow Slack: a real wait
        return reply

    def _record(self, method: str, args: dict[str, Any], headers: Mapping[str, str]) -> None:
        with self._cond:
            self._calls.append(Call(method, args, dict(headers.items()), self.clock.timestamp()))
            self._cond.notify_all()

    def _take_fault(self, method: str) -> _Fault | None:
        with self._cond:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def _api(self, method: str, query: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        try:
            args = _parse_args(query, headers.get("Content-Type", ""), body)
        except _ApiError as error:
            self._record(method, {}, headers)
            return _ok_false(error)
        self._record(method, args, headers)
        if fault := self._take_fault(method):
            return _api_fault(fault)
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else str(args.get("token") or "")
        if not token:
            return _ok_false(_ApiError("not_authed"))
        if not hmac.compare_digest(token.encode(), self.bot_token.encode()):
            return _ok_false(_ApiError("invalid_auth"))
        handler = self._methods.get(method)
        if handler is None:
            return _ok_false(_ApiError("unknown_method"))
        try:
            with self._cond:
                result = handler(args)
        except _ApiError as error:
            return _ok_false(error)
        return _json({"ok": True, **result})

    def _respond(self, url_id: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        self._record("response_url", payload if isinstance(payload, dict) else {}, headers)
        if fault := self._take_fault("response_url"):
            return _webhook_fault(fault)
        with self._cond:
            state = self._response_urls.get(url_id)
            if state is None:
                return _text(404, "invalid_url")
            deadline = time.monotonic() + ACK_DEADLINE
            while state.awaiting_ack and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            if self.clock.timestamp() - state.created > RESPONSE_URL_LIFETIME:
                return _text(404, "expired_url")
            if state.uses >= RESPONSE_URL_USES:
                return _text(404, "used_url")
            if not isinstance(payload, dict):
                return _text(400, "invalid_payload")
            try:
                self._respond_with(state, payload)
            except _ApiError as error:
                return _text(400, error.code)
            state.uses += 1
        return _text(200, "ok")

    def _respond_with(self, state: _ResponseUrl, payload: dict[str, Any]) -> None:
        original = self.message(state.channel, state.original) if state.original else None
        if original is not None and original.deleted:
            original = None
        if _true(payload.get("delete_original")):
            if original is not None:
                self._change(original, "deleted", deleted=True)
            state.original = None
            return
        text, blocks = _content(payload)
        if _true(payload.get("replace_original")) and original is not None:
            self._change(original, "updated", text=text, blocks=blocks)
            return
        thread_ts = _str_or_none(payload.get("thread_ts"))
        if payload.get("response_type") == "in_channel":
            self._add(self._msg(state.channel, text, blocks, thread_ts=thread_ts), "posted")
            return
        msg = self._msg(
            state.channel, text, blocks, thread_ts=thread_ts, ephemeral=True, visible_to=state.user
        )
        state.original = msg.ts
        self._add(msg, "ephemeral")

    def _receive_upload(self, file_id: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        self._record("file_upload", {"file_id": file_id, "length": len(body)}, headers)
        if fault := self._take_fault("file_upload"):
            return _webhook_fault(fault)
        with self._cond:
            upload = self._uploads.get(file_id)
            if upload is None:
                return _text(404, "file_not_found")
            upload.content = body
        return _text(200, f"OK - {len(body)}")

    # --- Web API methods (called with the lock held) ---------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "usagebot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        text, blocks = _content(args)
        msg = self._msg(channel, text, blocks, thread_ts=_str_or_none(args.get("thread_ts")))
        self._add(msg, "posted")
        return {"channel": channel, "ts": msg.ts, "message": self._message_json(msg)}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        user = self._user(args.get("user"))
        text, blocks = _content(args)
        msg = self._msg(
            channel,
            text,
            blocks,
            thread_ts=_str_or_none(args.get("thread_ts")),
            ephemeral=True,
            visible_to=user,
        )
        self._add(msg, "ephemeral")
        return {"message_ts": msg.ts}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._existing(args)
        changes: dict[str, Any] = {}
        if "text" in args:
            changes["text"] = str(args["text"] or "")[:MAX_TEXT]
        if "blocks" in args:  # absent keeps the old blocks; [] removes them, as in Slack
            changes["blocks"] = _blocks(args)
        if not changes:
            raise _ApiError("no_text")
        msg = self._change(msg, "updated", **changes)
        return {
            "channel": msg.channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": self._message_json(msg),
        }

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._change(self._existing(args), "deleted", deleted=True)
        return {"channel": msg.channel, "ts": msg.ts}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        msg = self._existing({"channel": args.get("channel"), "ts": args.get("message_ts")})
        path = f"{msg.channel}/p{msg.ts.replace('.', '')}"
        return {"channel": msg.channel, "permalink": f"https://standin.slack.com/archives/{path}"}

    def _open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:  # group DMs are beyond what the bot needs
            raise _ApiError("invalid_arguments" if not users else "not_supported")
        return {"channel": {"id": self.dm_channel(self._user(users[0]))}}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages of a channel, newest first (threads and ephemerals left out)."""
        channel = str(args.get("channel") or "")
        if not channel.startswith("D") and channel not in self.member_channels:
            raise _ApiError("channel_not_found")
        limit = int(args.get("limit") or 100)
        found = [
            m for m in self.channel_messages(channel) if not m.thread_ts or m.thread_ts == m.ts
        ]
        newest = [self._message_json(m) for m in reversed(found)][:limit]
        return {"messages": newest, "has_more": len(found) > limit}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent, then its replies oldest first, in pages (``cursor``)."""
        channel = str(args.get("channel") or "")
        if not channel.startswith("D") and channel not in self.member_channels:
            raise _ApiError("channel_not_found")
        ts = str(args.get("ts") or "")
        found = [m for m in self.channel_messages(channel) if ts in (m.ts, m.thread_ts)]
        if not any(m.ts == ts for m in found):
            raise _ApiError("thread_not_found")
        limit = max(1, int(args.get("limit") or 1000))
        cursor = str(args.get("cursor") or "")
        start = int(cursor.removeprefix("next:")) if cursor.startswith("next:") else 0
        page = found[start : start + limit]
        more = start + limit < len(found)
        reply: dict[str, Any] = {
            "messages": [self._message_json(m) for m in page],
            "has_more": more,
        }
        if more:
            reply["response_metadata"] = {"next_cursor": f"next:{start + limit}"}
        return reply

    def _publish_view(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._user(args.get("user_id"))
        view = _json_arg(args, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _ApiError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise _ApiError("invalid_blocks_format")
        if problems := block_problems(blocks, limit=MAX_VIEW_BLOCKS):
            raise _ApiError("invalid_blocks", errors=problems)
        self._home_views.setdefault(user, []).append(view)
        self._cond.notify_all()
        return {"view": {"id": f"V{len(self._home_views[user]):06d}", **view}}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": {"team_id": self.team_id, **user}}

    def _lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self.users.values():
            if str(user.get("profile", {}).get("email", "")).lower() == email:
                return {"user": {"team_id": self.team_id, **user}}
        raise _ApiError("users_not_found")

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(str(args.get("usergroup") or ""))
        if members is None:
            raise _ApiError("no_such_subteam")
        return {"users": list(members)}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            filename, length = str(args["filename"]), int(args["length"])
        except (KeyError, TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None
        file_id = f"F{len(self._uploads) + 1:04d}"
        self._uploads[file_id] = _Upload(filename, length)
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = _json_arg(args, "files", "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise _ApiError("invalid_arguments")
        channel = args.get("channel_id") or str(args.get("channels") or "").split(",")[0] or None
        if channel:
            channel = self._postable(channel)
        thread_ts = _str_or_none(args.get("thread_ts"))
        comment = _str_or_none(args.get("initial_comment"))
        done: list[UploadedFile] = []
        for entry in entries:
            upload = self._uploads.get(str(entry.get("id")))
            if upload is None or upload.content is None:
                raise _ApiError("file_not_found")
            title = entry.get("title") or upload.filename
            done.append(
                UploadedFile(
                    str(entry["id"]),
                    upload.filename,
                    title,
                    channel,
                    thread_ts,
                    comment,
                    upload.content,
                )
            )
        for file in done:
            del self._uploads[file.id]
        self._files.extend(done)
        if channel:
            share = replace(
                self._msg(channel, comment or "", [], thread_ts=thread_ts), files=tuple(done)
            )
            self._add(share, "file")
        else:
            self._cond.notify_all()
        return {
            "files": [
                {"id": f.id, "name": f.filename, "title": f.title, "size": len(f.content)}
                for f in done
            ]
        }

    # --- helpers (lock held) ---------------------------------------------------------------------

    def _postable(self, value: Any) -> str:
        channel = str(value or "")
        if not channel:
            raise _ApiError("channel_not_found")
        if channel[0] in "UW":  # Slack accepts a user id as "their DM with the bot"
            return self.dm_channel(self._user(channel))
        if channel.startswith("D") or channel in self.member_channels:
            return channel
        raise _ApiError("not_in_channel")

    def _user(self, value: Any) -> str:
        user = str(value or "")
        if not user:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["user missing"]})
        if self.users and user not in self.users:
            raise _ApiError("user_not_found")
        return user

    def _existing(self, args: dict[str, Any]) -> Msg:
        channel = str(args.get("channel") or "")
        if channel[:1] in ("U", "W"):
            channel = self.dm_channel(channel)
        msg = self.message(channel, str(args.get("ts") or ""))
        if msg is None or msg.ephemeral or msg.deleted:  # chat.update cannot edit ephemerals
            raise _ApiError("message_not_found")
        return msg

    def _next_ts(self) -> str:
        # Unique and increasing even when the injected clock stands still.
        self._last_ts = max(int(self.clock.timestamp() * 1_000_000), self._last_ts + 1)
        seconds, micros = divmod(self._last_ts, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _msg(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None = None,
        ephemeral: bool = False,
        visible_to: str | None = None,
    ) -> Msg:
        return Msg(
            self._next_ts(),
            channel,
            self.bot_user_id,
            text,
            blocks,
            thread_ts=thread_ts,
            ephemeral=ephemeral,
            visible_to=visible_to,
        )

    def _message_json(self, msg: Msg) -> dict[str, Any]:
        return {**msg.to_dict(), "bot_id": BOT_ID, "team": self.team_id}

    def _add(self, msg: Msg, kind: EventKind) -> Msg:
        with self._cond:
            self._index[(msg.channel, msg.ts)] = len(self._messages)
            self._messages.append(msg)
            self._emit(kind, msg)
        return msg

    def _change(self, msg: Msg, kind: EventKind, **changes: Any) -> Msg:
        with self._cond:
            new = replace(msg, **changes)
            self._messages[self._index[(msg.channel, msg.ts)]] = new
            self._emit(kind, new)
        return new

    def _emit(self, kind: EventKind, msg: Msg) -> None:
        self._cond.notify_all()
        # Called with the lock held so the console sees changes in the order they happened.
        if self.on_change is not None:
            try:
                self.on_change(Event(kind, msg))
            except Exception:
                log.debug("Slack stand-in: on_change failed for %s", kind, exc_info=True)


# --- request bodies ------------------------------------------------------------------------------


def _parse_args(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    """Arguments from the query string and a form or JSON body (Slack takes either)."""
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if not body.strip():
        return args
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or (media == "" and body.lstrip()[:1] == b"{"):
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _ApiError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise _ApiError("json_not_object")
        args.update(parsed)
    elif media.startswith("multipart/"):
        raise _ApiError("invalid_form_data")  # files.upload (v1) is retired; so is this path
    else:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise _ApiError("invalid_form_data") from None
        args.update((k, v[-1]) for k, v in form.items())
    return args


def _json_arg(args: Mapping[str, Any], name: str, error: str) -> Any:
    """A structured argument, which form bodies carry as a JSON string."""
    value = args.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(error) from None
    return value


def _blocks(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = _json_arg(args, "blocks", "invalid_blocks_format")
    if blocks in (None, ""):
        return []
    if not isinstance(blocks, list):
        raise _ApiError("invalid_blocks_format")
    if problems := block_problems(blocks):
        raise _ApiError("invalid_blocks", errors=problems)
    return blocks


def _content(args: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Text (truncated like Slack) and validated blocks; ``no_text`` when there is neither."""
    text = str(args.get("text") or "")[:MAX_TEXT]
    blocks = _blocks(args)
    if not text and not blocks:
        raise _ApiError("no_text")
    return text, blocks


def block_problems(blocks: list[Any], *, limit: int = MAX_BLOCKS) -> list[str]:
    """Why Slack would refuse these blocks, using slack_sdk's checks plus those it skips.

    ``limit``: 50 blocks in a message, 100 in a view (``MAX_VIEW_BLOCKS``)."""
    problems = []
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    for i, raw in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(raw, dict):
            problems.append(f"must be an object {where}")
            continue
        for j, item in enumerate(raw.get("fields") or []):
            if len(str(item.get("text", "")) if isinstance(item, dict) else "") > 2000:
                problems.append(f"must be less than 2001 characters {where[:-1]}/fields/{j}]")
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"unsupported type: {raw.get('type')!r} {where}")
            else:
                block.to_dict()  # runs validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError, AttributeError) as e:
            problems.append(f"{e} {where}")
    return problems


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _describe_call(call: Call) -> str:
    args = json.dumps(call.args, default=str)
    return f"{call.method} {args if len(args) <= 160 else args[:157] + '...'}"


def _describe_msg(msg: Msg) -> str:
    flags = "".join(
        [
            f" ephemeral→{msg.visible_to}" if msg.ephemeral else "",
            f" thread={msg.thread_ts}" if msg.thread_ts else "",
            " deleted" if msg.deleted else "",
        ]
    )
    return f"{msg.channel} {msg.ts}{flags}: {msg.text[:80]!r} ({len(msg.blocks)} blocks)"


# --- answers -------------------------------------------------------------------------------------


def _json(
    payload: dict[str, Any], status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), headers=headers)


def _ok_false(error: _ApiError) -> _Reply:
    return _json({"ok": False, "error": error.code, **error.extra})


def _text(status: int, body: str, headers: tuple[tuple[str, str], ...] = ()) -> _Reply:
    return _Reply(status, body.encode(), "text/plain; charset=utf-8", headers)


def _api_fault(fault: _Fault) -> _Reply:
    if fault.error is not None:
        return _json({"ok": False, "error": fault.error})
    if fault.status == 429:
        retry = (("Retry-After", str(fault.retry_after)),)
        return _json({"ok": False, "error": "ratelimited"}, 429, retry)
    return _json(
        {"ok": False, "error": _STATUS_ERRORS.get(fault.status, "fatal_error")}, fault.status
    )


def _webhook_fault(fault: _Fault) -> _Reply:
    if fault.error is not None:
        # Webhooks answer their errors as text: 404 for a dead URL, 400 for a bad payload.
        return _text(404 if fault.error.endswith("_url") else 400, fault.error)
    if fault.status == 429:
        return _text(429, "rate_limited", (("Retry-After", str(fault.retry_after)),))
    return _text(fault.status, _STATUS_ERRORS.get(fault.status, "fatal_error"))
