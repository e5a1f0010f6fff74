"""Fixtures: the built `pysandbox serve` (PSB_CLI names it; PYSANDBOX_HELPER its helper)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pysandbox_client import PySandbox  # noqa: E402


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("PSB_CLI")
    if not path:
        pytest.fail("PSB_CLI must name the built pysandbox binary")
    return path


@pytest.fixture(scope="module")
def sb(cli):
    with PySandbox.spawn(cli, ["serve", "--max-in-flight", "4"]) as sandbox:
        yield sandbox
