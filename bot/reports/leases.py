"""Leases: which process is doing which piece of work, and for how long that holds.

Each process is an *instance* with a random id that sends a heartbeat to the database on every
scheduler tick. Work (a dataset's next step, a request's check or answer) is claimed with a lease
naming the instance and an expiry. A lease stops holding when it expires, or as soon as its
instance has sent no heartbeat for ``stale`` seconds: a killed process's work is taken over
within that bound, while a live process's long step (a 50k-user report, a Slack retry) is not.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass

from bot.clock import Clock
from bot.reports.store import Lease

# A step longer than this is taken for stuck, even when its instance still beats.
DEFAULT_HOLD = 600.0
# Silence after which an instance is taken for dead; several ticks, and more than a GC pause.
DEFAULT_STALE = 15.0


def new_instance_id() -> str:
    """Host, process id and a random part: readable in the database, unique across restarts."""
    return f"{socket.gethostname()[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Leases:
    """Makes this instance's leases, reading the one clock."""

    owner: str
    clock: Clock
    stale: float = DEFAULT_STALE
    hold: float = DEFAULT_HOLD

    def take(self, seconds: float | None = None) -> Lease:
        """A lease from now for ``seconds`` (``hold`` by default)."""
        now = self.clock.now()
        return Lease(
            owner=self.owner,
            now=now,
            until=now + dt.timedelta(seconds=self.hold if seconds is None else seconds),
            live_since=now - dt.timedelta(seconds=self.stale),
        )
