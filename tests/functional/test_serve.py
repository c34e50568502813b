"""The service as `comerix serve` runs it, over real sockets: slow clients are cut off by the header and
body read timeouts, and a client's address comes from `X-Forwarded-For` only when its connection comes
from a proxy the operator named (`COMERIX_TRUSTED_PROXIES`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn

from comerix import server
from comerix.admin.throttle import LoginThrottle
from comerix.db import Database
from comerix.settings import Settings

TIMEOUT = 1.0  # seconds, for the headers and for the body: short, so that the tests are


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(data_dir: Path, **settings: str) -> Iterator[tuple[str, int]]:
    """`comerix serve` in a process of its own, on a SQLite database in `data_dir`, until the block ends."""
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("COMERIX_")}
    environment |= {"COMERIX_DATA_DIR": str(data_dir), "COMERIX_SECURE_COOKIES": "false"}
    environment |= {f"COMERIX_{name.upper()}": value for name, value in settings.items()}
    log = (data_dir / "serve.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - this interpreter, running the service's own command
        [sys.executable, "-m", "comerix", "serve", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (data_dir / "serve.log").read_text()
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            assert time.monotonic() < deadline, "the service did not start within 60 s"
            time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The service with its defaults, but short read timeouts."""
    with serving(
        tmp_path_factory.mktemp("serve"), headers_timeout=str(TIMEOUT), body_timeout=str(TIMEOUT)
    ) as address:
        yield address


def read_until_closed(connection: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and when it closed it (from now);
    fails if it is still open after `limit` seconds."""
    started = time.monotonic()
    connection.settimeout(0.1)
    received = b""
    while time.monotonic() - started < limit:
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    else:
        pytest.fail(f"the connection was still open after {limit:g} s; received {received!r}")
    return received, time.monotonic() - started


def trickle(connection: socket.socket, piece: bytes, every: float, stop: threading.Event) -> None:
    """Send `piece` every `every` seconds until `stop`, or until the server hangs up."""
    while not stop.wait(every):
        try:
            connection.sendall(piece)
        except OSError:
            return


def test_a_body_sent_a_byte_at_a_time_is_cut_off_with_a_408(service: tuple[str, int]) -> None:
    stop = threading.Event()
    with socket.create_connection(service) as connection:
        connection.sendall(
            b"POST /admin/login HTTP/1.1\r\nHost: shop\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail="
        )
        threading.Thread(target=trickle, args=(connection, b"a", 0.2, stop), daemon=True).start()
        try:
            answer, closed_after = read_until_closed(connection, limit=10)
        finally:
            stop.set()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert b'"code":"request_timeout"' in answer
    assert closed_after < TIMEOUT + 2


def test_headers_sent_a_line_at_a_time_are_cut_off_with_a_408(service: tuple[str, int]) -> None:
    stop = threading.Event()
    with socket.create_connection(service) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: shop\r\n")
        threading.Thread(target=trickle, args=(connection, b"X-Slow: 1\r\n", 0.2, stop), daemon=True).start()
        try:
            answer, closed_after = read_until_closed(connection, limit=10)
        finally:
            stop.set()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert closed_after < TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed(service: tuple[str, int]) -> None:
    with socket.create_connection(service) as connection:
        _answer, closed_after = read_until_closed(connection, limit=10)
    assert closed_after < TIMEOUT + 2


def test_requests_on_time_keep_their_connection(service: tuple[str, int]) -> None:
    host, port = service
    with httpx2.Client(base_url=f"http://{host}:{port}") as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(TIMEOUT / 2)  # idle between requests: the keep-alive timeout's, not these
        # a body read in full (the form), refused before the sign-in throttle counts it
        body = {"email": "nobody@shop.example", "password": "x", "csrf_token": "stale"}
        on_time = client.post("/admin/login", data=body, headers={"Cookie": "comerix_login_csrf=t"})
    assert on_time.status_code == 403


async def slow_app(scope: dict[str, object], _receive: object, send: Any) -> None:
    """An app that takes twice the headers timeout to answer."""
    await asyncio.sleep(TIMEOUT * 2)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"slow answer"})


@contextlib.contextmanager
def serving_app(app: Any, data_dir: Path) -> Iterator[tuple[str, int]]:
    """`app` under uvicorn as `comerix serve` configures it (`server.config`), on a thread, with short
    read timeouts."""
    settings = Settings(data_dir=data_dir, headers_timeout=TIMEOUT, body_timeout=TIMEOUT)
    port = free_port()
    config = server.config(app, settings, host="127.0.0.1", port=port)
    config.lifespan = "off"
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not running.started:
            assert thread.is_alive(), "uvicorn stopped"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        running.should_exit = True
        thread.join(timeout=30)


def test_a_late_next_request_never_answers_for_the_one_still_processed(tmp_path: Path) -> None:
    """A request in full, then the start of the next one, which stalls while the first is processed:
    the client must read the first one's answer (maybe of a committed write), never a 408 it would
    take for it. The connection closes after that answer."""
    with serving_app(slow_app, tmp_path) as address, socket.create_connection(address) as connection:
        connection.sendall(b"POST /slow HTTP/1.1\r\nHost: shop\r\nContent-Length: 0\r\n\r\n")
        connection.sendall(b"GET /next HTTP/1.1\r\nHost: shop\r\n")  # and no more
        answer, _closed_after = read_until_closed(connection, limit=10)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert b"slow answer" in answer
    assert b"connection: close" in answer.lower()
    assert b" 408 " not in answer


def failed_sign_in(client: httpx2.Client, email: str, forwarded_for: str) -> int:
    """A sign-in with a wrong password (and a form token of the client's choosing, as the double-submit
    cookie allows) as it reaches the service through a proxy that says who the client is."""
    response = client.post(
        "/admin/login",
        data={"email": email, "password": "wrong", "csrf_token": "token"},
        headers={"X-Forwarded-For": forwarded_for, "Cookie": "comerix_login_csrf=token"},
    )
    return response.status_code


def test_x_forwarded_for_is_not_believed_by_default(service: tuple[str, int]) -> None:
    """Every client of a proxy on the same machine would otherwise choose its own address and escape
    the per-address limit (20 failures in 15 minutes)."""
    host, port = service
    with httpx2.Client(base_url=f"http://{host}:{port}") as client:
        answers = [failed_sign_in(client, f"user{n}@shop.example", f"203.0.113.{n}") for n in range(21)]
    assert answers == [401] * 20 + [429]


def test_x_forwarded_for_is_believed_from_a_trusted_proxy(tmp_path: Path) -> None:
    with serving(tmp_path, trusted_proxies="127.0.0.1") as (host, port):
        # 20 failures from one client of the proxy, as another instance of the service counted them
        database = Database(Settings(data_dir=tmp_path).database)
        try:
            throttle = LoginThrottle(database)
            for n in range(20):
                throttle.attempt(f"other{n}@shop.example", "198.51.100.7", datetime.now(UTC))
        finally:
            database.dispose()
        with httpx2.Client(base_url=f"http://{host}:{port}") as client:
            assert failed_sign_in(client, "user@shop.example", "198.51.100.7") == 429
            assert failed_sign_in(client, "user@shop.example", "203.0.113.1") == 401  # another client
