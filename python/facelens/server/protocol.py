"""uvicorn's h11 protocol with a header deadline: a connection that does not complete its request headers within
``FACELENS_HEADER_TIMEOUT`` seconds (default 10) is closed, so idle or trickling clients (slowloris) cannot hold
the server. uvicorn's own keep-alive timer only runs between requests and is reset by every byte received; the
body has its own deadline in the app (``body_timeout``)."""

from __future__ import annotations

import os
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = float(os.environ.get("FACELENS_HEADER_TIMEOUT", "10"))


class GuardedH11Protocol(H11Protocol):
    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:  # the response goes out in two writes (head, body): without this, Nagle + the client's delayed
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # ACK cost 40 ms per keep-alive request
            except OSError:
                pass
        self._header_timer = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _header_deadline(self) -> None:
        self._header_timer = None
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        timer = getattr(self, "_header_timer", None)
        if timer is not None and self.cycle is not None and not self.cycle.response_complete:
            timer.cancel()  # a request is being served: its body has the app's deadline
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)
