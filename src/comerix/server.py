"""The HTTP server as `comerix serve` runs it: uvicorn, with read timeouts it lacks.

uvicorn (httptools) closes a keep-alive connection that stays silent between requests, but has no
limit on reading a request: a client that connects and sends nothing, or sends its headers or its
body a byte at a time ("slowloris"), holds a connection, and a task of the app waiting for the body,
for as long as it likes. `timed_protocol` adds two deadlines, from the `headers_timeout` and
`body_timeout` settings: the headers must be in within `headers_timeout` of the connection (for its
first request) or of the request's first byte, and the body within `body_timeout` of the headers. A
request that misses one is answered 408 with `Connection: close`, unless an answer is pending (the
app has begun this request's, or the previous request's is not sent yet): then the connection is
closed after that answer, which the client must not mistake for a 408. A timer runs only while a
request is incomplete after what arrived was read, so a request that comes in one piece costs none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Literal

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from comerix.errors import error_body
from comerix.settings import Settings

log = logging.getLogger(__name__)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines for a request's headers and body."""

    headers_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading: Literal["headers", "body"] | None = "headers"  # what a deadline waits for
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()  # after the parser's callbacks: the request is where they left it

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._reading != "headers":
            self._disarm()
            self._reading = "headers"

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = None
        super().on_message_complete()

    def _arm(self) -> None:
        if self._reading is not None and self._read_timer is None and not self.transport.is_closing():
            timeout = self.headers_timeout if self._reading == "headers" else self.body_timeout
            self._read_timer = self.loop.call_later(timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:  # the service is behind, not the client
            self._arm()
            return
        cycle = self.cycle
        reading = self._reading
        log.info("closing a connection from %s: its request's %s took too long", self.client, reading)
        if (
            cycle is not None
            and not cycle.response_complete
            and (reading == "headers" or cycle.response_started)
        ):
            # An answer is pending: of the previous request when these are the next one's headers (a
            # 408 now would be read as its answer, and it may have been committed), or of this one,
            # begun by the app. The connection closes after that answer.
            cycle.keep_alive = False
            return
        if cycle is not None and cycle.response_complete and reading == "body":
            self.transport.close()  # answered already; the rest of the body is not wanted
            return
        if cycle is not None and not cycle.response_complete and reading == "body":
            cycle.disconnected = True  # the app, waiting for the body, hears the client has gone
            cycle.message_event.set()
        self._send_408(reading or "headers")

    def _send_408(self, reading: str) -> None:
        timeout = self.headers_timeout if reading == "headers" else self.body_timeout
        body = orjson.dumps(
            error_body("request_timeout", f"the request's {reading} did not arrive within {timeout:g} s")
        )
        content = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def timed_protocol(settings: Settings) -> type[TimedHttpToolsProtocol]:
    """The protocol class with the deadlines of `settings`."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"headers_timeout": settings.headers_timeout, "body_timeout": settings.body_timeout},
    )


def config(app: Any, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """How `comerix serve` runs uvicorn. Forwarded headers are the app's to trust
    (`settings.trusted_proxies`, see `app.create_app`): uvicorn's own default believes them from
    127.0.0.1, so that any client of a proxy on the same machine could choose its address."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        http=timed_protocol(settings),
        proxy_headers=False,
    )
