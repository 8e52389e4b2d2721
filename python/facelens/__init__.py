"""facelens: Amazon Rekognition's face API, computed locally by real neural networks.

    import facelens
    client = facelens.Client()
    client.detect_faces(Image={"Bytes": open("photo.jpg", "rb").read()}, Attributes=["DEFAULT", "EYE_DIRECTION"])
"""

from importlib import metadata as _metadata
from typing import Any

from . import errors
from .client import Client
from .errors import ClientError, ParamValidationError
from .settings import Settings

__version__ = _metadata.version("facelens")  # pyproject.toml's, from the installed metadata


def client(service_name: str = "rekognition", **kwargs: Any) -> Client:
    """``facelens.client("rekognition")``, shaped like ``boto3.client("rekognition")``."""
    if service_name != "rekognition":
        raise ValueError(f"facelens only provides the 'rekognition' service, not {service_name!r}")
    return Client(**kwargs)


__all__ = ["Client", "ClientError", "ParamValidationError", "Settings", "__version__", "client", "errors"]
