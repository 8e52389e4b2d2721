"""A local Rekognition endpoint: ``boto3.client("rekognition", endpoint_url="http://127.0.0.1:8087")``.

``create_app()`` is a plain ASGI application speaking Rekognition's JSON 1.1 protocol; ``serve()`` runs it under
uvicorn (``pip install "facelens[server]"``). See ``app.py`` for the wire format and ``sigv4.py`` for
authentication.
"""

from typing import Any

from .app import DEFAULT_MAX_BODY, RekognitionApp, create_app, operations

__all__ = ["DEFAULT_MAX_BODY", "RekognitionApp", "create_app", "operations", "serve"]


def serve(*args: Any, **kwargs: Any) -> int:
    from .run import serve as _serve

    return _serve(*args, **kwargs)
