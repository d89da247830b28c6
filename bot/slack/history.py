"""Find the bot's own message by a marker it carries: how a post whose sender died before
recording its ts is found instead of posted twice.

A channel's top level is read with ``conversations.history`` (newest first, one page: what is
looked for is recent); a thread with ``conversations.replies`` (oldest first, every page: a
long thread holds it near its end). Scopes: ``im:history`` for DMs, ``channels:history`` and
``groups:history`` for public and private channels.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

# Top-level messages read when looking for a marker (the newest).
HISTORY_LIMIT = 50
# Replies read per page of a thread, and the pages read at most.
REPLIES_LIMIT = 200
REPLIES_PAGES = 20


def find_marked(
    client: WebClient,
    channel: str,
    marker: str,
    *,
    thread_ts: str | None = None,
    page_size: int = REPLIES_LIMIT,
) -> str | None:
    """The ts of a message in ``channel`` (or in the thread ``thread_ts``) carrying ``marker``."""
    if thread_ts is None:
        reply = client.conversations_history(channel=channel, limit=HISTORY_LIMIT)
        return _marked(reply.get("messages") or [], marker)
    cursor: str | None = None
    for _ in range(REPLIES_PAGES):
        page = client.conversations_replies(
            channel=channel, ts=thread_ts, limit=page_size, cursor=cursor
        )
        found = _marked(page.get("messages") or [], marker)
        if found:
            return found
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not page.get("has_more") or not cursor:
            return None
    return None


def _marked(messages: list[dict[str, Any]], marker: str) -> str | None:
    for message in messages:
        if marker in str(message.get("text", "")) + str(message.get("blocks", "")):
            ts: str = message["ts"]
            return ts
    return None
