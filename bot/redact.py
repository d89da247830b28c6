"""Keeping credentials out of what people and logs see.

A URL may carry a user and password (``https://user:secret@proxy.example/``): settings such as
``BROWSERSTACK_API_URL`` accept one, and it must never reach a Slack message, a log line or an
exception's text. ``redact_url`` drops the password (and the user with it) from every URL in a
text; ``install`` applies it to every log record made in the process, whichever handler writes
it, tracebacks included.
"""

from __future__ import annotations

import logging
import re

# scheme://userinfo@  (userinfo: anything up to the first "@" that holds no "/", "?" or "#").
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*)@")


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


_formatter = logging.Formatter()


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    message = record.getMessage()
    if "://" in message:
        record.msg, record.args = redact_url(message), None
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set: fill it in, redacted.
        record.exc_text = redact_url(_formatter.formatException(record.exc_info))
    return record


def install() -> None:
    """Redact every log record from now on (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def make(*args: object, **kwargs: object) -> logging.LogRecord:
        return _redacted(factory(*args, **kwargs))

    make.redacts = True  # type: ignore[attr-defined]  # marks the installed factory
    logging.setLogRecordFactory(make)
