"""The end-to-end fixtures of tests/slack (the stand-in, the stack), for campaigns too."""

from tests.slack.conftest import make_stack, pytest_runtest_makereport, stack, standin

__all__ = ["make_stack", "pytest_runtest_makereport", "stack", "standin"]
