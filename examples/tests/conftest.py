"""Fixtures for examples/agent_tool.py: the built `pysandbox serve` (PSB_CLI)."""

import os
import sys

import pytest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "..", "clients", "python"))

from pysandbox_client import PySandbox  # noqa: E402


@pytest.fixture(scope="module")
def sb():
    cli = os.environ.get("PSB_CLI")
    if not cli:
        pytest.fail("PSB_CLI must name the built pysandbox binary")
    with PySandbox.spawn(cli) as sandbox:
        yield sandbox
