"""serve leaves what start-up made out of later garbage collections (``freeze_startup_objects``)."""

from __future__ import annotations

import gc

from bot.server import freeze_startup_objects


def test_what_is_alive_at_start_up_is_left_out_of_later_collections() -> None:
    alive = [[index] for index in range(1_000)]  # lists: objects the collector tracks
    try:
        frozen = freeze_startup_objects()
        assert frozen >= len(alive)
        walked = {id(item) for item in gc.get_objects()}  # what a full collection walks
        assert not any(id(item) in walked for item in alive)
        later = [0]  # what comes after start-up is collected as before
        assert id(later) in {id(item) for item in gc.get_objects()}
    finally:
        gc.unfreeze()  # this test's process is pytest's: leave it as it was
