"""A faithful BrowserStack Usage Reports server on loopback, with a synthetic organisation.

For the demo, the tests, and anyone trying the bot without an Enterprise account::

    with SandboxServer(SandboxConfig(), port=0) as server:
        client = ...(base_url=server.url, username="sandbox", access_key="sandbox-key")
"""

from bot.browserstack.sandbox.faults import FaultConfig
from bot.browserstack.sandbox.jobs import JobStatus, JobStore
from bot.browserstack.sandbox.org import SyntheticOrg
from bot.browserstack.sandbox.server import SandboxConfig, SandboxServer, SandboxStats

__all__ = [
    "FaultConfig",
    "JobStatus",
    "JobStore",
    "SandboxConfig",
    "SandboxServer",
    "SandboxStats",
    "SyntheticOrg",
]
