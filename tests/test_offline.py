"""The suite's network guard refuses anything but loopback."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import NetworkRefused


def test_connections_off_this_machine_are_refused() -> None:
    with pytest.raises(NetworkRefused), socket.create_connection(("203.0.113.7", 443), timeout=1):
        pass


def test_name_resolution_is_refused() -> None:
    with pytest.raises(NetworkRefused):
        socket.getaddrinfo("www.coinspot.com.au", 443)


def test_http_clients_cannot_reach_out() -> None:
    with pytest.raises((NetworkRefused, httpx.ConnectError)):
        httpx.get("https://www.coinspot.com.au/pubapi/v2/latest", timeout=2)


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
    finally:
        server.close()
