"""Shared test configuration: every test talks to the *test* stack, never the dev data.

``./exchange test`` starts the test stack (its own ports, folders and database) and exports
its ``EXCHANGE_*`` variables; running ``pytest`` directly falls back to the same values.
"""

from __future__ import annotations

import os

import pytest

from cli.profiles import PROFILES

TEST_PROFILE = PROFILES["test"]

for _key, _value in TEST_PROFILE.service_env().items():
    os.environ.setdefault(_key, _value)


@pytest.fixture(scope="session")
def command_api_url() -> str:
    """The test stack's command API, served by supervisord."""
    return os.environ["EXCHANGE_COMMAND_API_URL"]


@pytest.fixture(scope="session")
def query_api_url() -> str:
    """The test stack's query API, served by supervisord."""
    return os.environ["EXCHANGE_QUERY_API_URL"]


@pytest.fixture(scope="session")
def nginx_url() -> str:
    """nginx in front of the test stack's APIs."""
    return os.environ["EXCHANGE_NGINX_URL"]
