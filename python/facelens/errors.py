"""Rekognition's error classes.

Each exception carries the Rekognition error code and a botocore-style ``.response`` so that code
written as ``except client.exceptions.InvalidParameterException as e: e.response["Error"]["Code"]``
runs unchanged. ``ClientError`` mirrors ``botocore.exceptions.ClientError``.
"""

from __future__ import annotations

import uuid
from typing import Dict, Type


class ClientError(Exception):
    """Base class of every error facelens raises for a request (like botocore's ClientError)."""

    code = "ClientError"
    http_status = 400

    def __init__(self, message: str, operation_name: str = "") -> None:
        self.message = message
        self.operation_name = operation_name
        self.response = {
            "Error": {"Code": self.code, "Message": message},
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": self.http_status},
        }
        where = f" when calling the {operation_name} operation" if operation_name else ""
        super().__init__(f"An error occurred ({self.code}){where}: {message}")


def _error(code: str, http_status: int = 400) -> Type[ClientError]:
    return type(code, (ClientError,), {"code": code, "http_status": http_status, "__doc__": f"Rekognition's {code}."})


AccessDeniedException = _error("AccessDeniedException")
ConflictException = _error("ConflictException")
IdempotentParameterMismatchException = _error("IdempotentParameterMismatchException")
ImageTooLargeException = _error("ImageTooLargeException")
InternalServerError = _error("InternalServerError", 500)
InvalidImageFormatException = _error("InvalidImageFormatException")
InvalidPaginationTokenException = _error("InvalidPaginationTokenException")
InvalidParameterException = _error("InvalidParameterException")
InvalidS3ObjectException = _error("InvalidS3ObjectException")
LimitExceededException = _error("LimitExceededException")
ProvisionedThroughputExceededException = _error("ProvisionedThroughputExceededException")
ResourceAlreadyExistsException = _error("ResourceAlreadyExistsException")
ResourceInUseException = _error("ResourceInUseException")
ResourceNotFoundException = _error("ResourceNotFoundException")
ServiceQuotaExceededException = _error("ServiceQuotaExceededException")
ThrottlingException = _error("ThrottlingException")
VideoTooLargeException = _error("VideoTooLargeException")

ALL_ERRORS: Dict[str, Type[ClientError]] = {
    cls.code: cls
    for cls in (
        AccessDeniedException,
        ConflictException,
        IdempotentParameterMismatchException,
        ImageTooLargeException,
        InternalServerError,
        InvalidImageFormatException,
        InvalidPaginationTokenException,
        InvalidParameterException,
        InvalidS3ObjectException,
        LimitExceededException,
        ProvisionedThroughputExceededException,
        ResourceAlreadyExistsException,
        ResourceInUseException,
        ResourceNotFoundException,
        ServiceQuotaExceededException,
        ThrottlingException,
        VideoTooLargeException,
    )
}


class ModelError(RuntimeError):
    """A model file shipped with facelens is missing or corrupt (an installation problem, not a request error)."""


class Exceptions:
    """``client.exceptions``: the error classes by name, as boto3 exposes them."""

    ClientError = ClientError

    def __init__(self) -> None:
        for code, cls in ALL_ERRORS.items():
            setattr(self, code, cls)

    def from_code(self, code: str) -> Type[ClientError]:
        return ALL_ERRORS.get(code, ClientError)


class ParamValidationError(ValueError):
    """A request that breaks the shape of the API (missing required or unknown parameter, wrong type).

    boto3 raises ``botocore.exceptions.ParamValidationError`` for these before anything is sent; facelens
    raises this class, with the same ``Parameter validation failed:`` message form.
    """

    def __init__(self, report: str) -> None:
        self.report = report
        super().__init__(f"Parameter validation failed:\n{report}")
