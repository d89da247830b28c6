"""The end-to-end fixtures of tests/slack (the stand-in, the stack), for campaigns too, and the
sandbox a campaign's members come from."""

import pytest

from bot.browserstack.sandbox import SandboxServer
from tests.conftest import SandboxFactory
from tests.slack.conftest import make_stack, pytest_runtest_makereport, stack, standin

__all__ = ["make_stack", "pytest_runtest_makereport", "sandbox", "stack", "standin"]


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    return sandbox_factory()
