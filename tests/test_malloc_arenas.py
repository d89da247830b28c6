"""serve caps glibc's malloc arenas unless the environment chose (``limit_malloc_arenas``)."""

from __future__ import annotations

import platform
import sys

import pytest

from bot.server import limit_malloc_arenas


def test_the_environment_decides_when_it_sets_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt's arena cap is glibc's",
)
def test_glibc_takes_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True
