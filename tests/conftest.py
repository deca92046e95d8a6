"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import pytest


@pytest.fixture
def environment():
    """``os.environ`` for the test to change; restored afterwards."""
    saved = dict(os.environ)
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)


def eventually(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
    """Re-run ``check`` until it stops raising ``AssertionError`` (returns its value) or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
