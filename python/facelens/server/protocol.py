"""uvicorn's h11 protocol with the endpoint's connection rules.

- **Header deadline.** A connection that does not complete its request headers within ``FACELENS_HEADER_TIMEOUT``
  seconds (default 10) is closed, so idle or trickling clients (slowloris) cannot hold the server. uvicorn's own
  keep-alive timer only runs between requests and is reset by every byte received; the body has its own deadline
  in the app (``body_timeout``).
- **Only requests count against the request limit.** At most ``FACELENS_MAX_REQUESTS`` (default 256) requests are
  in flight; one more is answered 503 at once. A connection that has not sent a request (new, or kept alive between
  requests) costs a socket and a few kilobytes and is not counted: uvicorn's ``limit_concurrency`` counted it, so a
  few hundred silent connections made every real request a 503.
- **Connection cap.** At most ``FACELENS_MAX_CONNECTIONS`` (default 4096, lowered to fit the process's file
  limit) connections are held; when a new one would exceed that, the connection that has waited longest without a
  request in progress is closed to make room (a flood of idle sockets pushes out its own oldest, not the clients
  being served); if every connection has a request in progress, the new one is closed.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Dict, Optional

from uvicorn.protocols.http.h11_impl import H11Protocol

from ..settings import ServerSettings

# uvicorn builds the protocol from its class (in each worker process): the limits are read when this is imported
LIMITS = ServerSettings.from_env()


def raise_file_limit() -> int:
    """Raises this process's soft limit on open files to its hard limit (each connection is a descriptor);
    returns the soft limit now in force."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        return int(soft)
    except (ImportError, ValueError, OSError):  # pragma: no cover - no resource module / not permitted
        return 1024


def connection_cap(file_limit: int) -> int:
    """Connections held at most: the configured cap, leaving 128 descriptors for models, the store and logs."""
    return max(16, min(LIMITS.max_connections, file_limit - 128))


class GuardedH11Protocol(H11Protocol):
    header_timeout = LIMITS.header_timeout
    max_requests = LIMITS.max_requests
    max_connections = connection_cap(raise_file_limit())

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:  # the response goes out in two writes (head, body): without this, Nagle + the client's delayed
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # ACK cost 40 ms per keep-alive request
            except OSError:
                pass
        self._header_timer: Optional[asyncio.TimerHandle] = None
        self._waiting()[self] = None
        if len(self.connections) > self.max_connections:
            self._make_room()
        if not self.transport.is_closing():
            self._arm()

    def _waiting(self) -> Dict[GuardedH11Protocol, None]:
        """Connections without a request in progress, oldest first (shared by the server's connections)."""
        state = self.server_state
        waiting: Optional[Dict[GuardedH11Protocol, None]] = getattr(state, "facelens_waiting", None)
        if waiting is None:
            waiting = {}
            setattr(state, "facelens_waiting", waiting)  # noqa: B010 (uvicorn's ServerState has no such field)
        return waiting

    def _make_room(self) -> None:
        waiting = self._waiting()
        oldest = next((c for c in waiting if c is not self), self)
        waiting.pop(oldest, None)
        oldest.transport.close()

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
        # uvicorn answers 503 when limit_concurrency <= the number of connections: 0 refuses, None admits. Only
        # requests in flight decide.
        self.limit_concurrency = 0 if len(self.tasks) >= self.max_requests else None
        super().handle_events()
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy:
            self._waiting().pop(self, None)
        timer = getattr(self, "_header_timer", None)
        if timer is not None and busy:
            timer.cancel()  # a request is being served: its body has the app's deadline
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting()[self] = None
            self._arm()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None
        self._waiting().pop(self, None)
        super().connection_lost(exc)
