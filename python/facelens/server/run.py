"""``facelens serve``: the endpoint under uvicorn, with limits and graceful shutdown."""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import Optional

PROTOCOL = "facelens.server.protocol:GuardedH11Protocol"


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uvicorn_settings(workers: int = 1) -> dict:
    return dict(
        http=PROTOCOL,
        lifespan="on",
        timeout_keep_alive=5,  # idle keep-alive connections close after 5 s
        timeout_graceful_shutdown=60,  # SIGTERM: stop accepting, let in-flight requests finish (at most 60 s)
        # No uvicorn limit_concurrency: it counts idle connections too. The protocol limits requests in flight
        # (FACELENS_MAX_REQUESTS, 503 beyond) and connections held (FACELENS_MAX_CONNECTIONS, oldest idle closed).
        limit_concurrency=None,
        backlog=512,
        workers=workers,
        access_log=False,
        server_header=False,
    )


def serve(host: str = "127.0.0.1", port: int = 8087, workers: int = 1, access_key_id: Optional[str] = None,
          secret_access_key: Optional[str] = None, log_level: str = "info") -> int:
    try:
        import uvicorn
    except ImportError:
        print('facelens serve needs uvicorn: pip install "facelens[server]" (or pip install uvicorn)', file=sys.stderr)
        return 2
    if bool(access_key_id) != bool(secret_access_key):
        print("facelens: give both --access-key-id and --secret-access-key, or neither", file=sys.stderr)
        return 2
    if access_key_id and secret_access_key:  # the app (in every worker process) reads its keys from the environment
        os.environ["FACELENS_ACCESS_KEY_ID"] = access_key_id
        os.environ["FACELENS_SECRET_ACCESS_KEY"] = secret_access_key
    keyed = bool(os.environ.get("FACELENS_ACCESS_KEY_ID") and os.environ.get("FACELENS_SECRET_ACCESS_KEY"))
    if not keyed and not is_loopback(host):
        print(f"facelens: WARNING: serving on {host} without access keys: anyone who can reach this port can use "
              f"it. Give --access-key-id/--secret-access-key (or FACELENS_ACCESS_KEY_ID/FACELENS_SECRET_ACCESS_KEY) "
              f"to require SigV4-signed requests.", file=sys.stderr)
    print(f"facelens: Rekognition endpoint on http://{host}:{port} ({workers} worker{'s' if workers != 1 else ''}, "
          f"SigV4 {'verified' if keyed else 'not checked'})", file=sys.stderr)
    uvicorn.run("facelens.server.app:app_from_env", factory=True, host=host, port=port, log_level=log_level,
                **uvicorn_settings(workers))
    return 0
