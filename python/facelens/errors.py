"""Rekognition's error classes.

Each exception carries the Rekognition error code and a botocore-style ``.response`` so that code
written as ``except client.exceptions.InvalidParameterException as e: e.response["Error"]["Code"]``
runs unchanged. ``ClientError`` mirrors ``botocore.exceptions.ClientError``.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, Type


class ClientError(Exception):
    """Base class of every error facelens raises for a request (like botocore's ClientError)."""

    code = "ClientError"
    http_status = 400

    def __init__(self, message: str, operation_name: str = "") -> None:
        self.message = message
        self.operation_name = operation_name
        self.response: Dict[str, Any] = {
            "Error": {"Code": self.code, "Message": message},
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": self.http_status},
        }
        where = f" when calling the {operation_name} operation" if operation_name else ""
        super().__init__(f"An error occurred ({self.code}){where}: {message}")


class AccessDeniedException(ClientError):
    """Rekognition's AccessDeniedException."""

    code = "AccessDeniedException"


class ConflictException(ClientError):
    """Rekognition's ConflictException."""

    code = "ConflictException"


class IdempotentParameterMismatchException(ClientError):
    """Rekognition's IdempotentParameterMismatchException."""

    code = "IdempotentParameterMismatchException"


class ImageTooLargeException(ClientError):
    """Rekognition's ImageTooLargeException."""

    code = "ImageTooLargeException"


class InternalServerError(ClientError):
    """Rekognition's InternalServerError."""

    code = "InternalServerError"
    http_status = 500


class InvalidImageFormatException(ClientError):
    """Rekognition's InvalidImageFormatException."""

    code = "InvalidImageFormatException"


class InvalidPaginationTokenException(ClientError):
    """Rekognition's InvalidPaginationTokenException."""

    code = "InvalidPaginationTokenException"


class InvalidParameterException(ClientError):
    """Rekognition's InvalidParameterException."""

    code = "InvalidParameterException"


class InvalidS3ObjectException(ClientError):
    """Rekognition's InvalidS3ObjectException."""

    code = "InvalidS3ObjectException"


class LimitExceededException(ClientError):
    """Rekognition's LimitExceededException."""

    code = "LimitExceededException"


class ProvisionedThroughputExceededException(ClientError):
    """Rekognition's ProvisionedThroughputExceededException."""

    code = "ProvisionedThroughputExceededException"


class ResourceAlreadyExistsException(ClientError):
    """Rekognition's ResourceAlreadyExistsException."""

    code = "ResourceAlreadyExistsException"


class ResourceInUseException(ClientError):
    """Rekognition's ResourceInUseException."""

    code = "ResourceInUseException"


class ResourceNotFoundException(ClientError):
    """Rekognition's ResourceNotFoundException."""

    code = "ResourceNotFoundException"


class ServiceQuotaExceededException(ClientError):
    """Rekognition's ServiceQuotaExceededException."""

    code = "ServiceQuotaExceededException"


class ThrottlingException(ClientError):
    """Rekognition's ThrottlingException."""

    code = "ThrottlingException"


class VideoTooLargeException(ClientError):
    """Rekognition's VideoTooLargeException."""

    code = "VideoTooLargeException"


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


_ClientErrorClass = Type[ClientError]


class Exceptions:
    """``client.exceptions``: the error classes by name, as boto3 exposes them."""

    ClientError = ClientError
    AccessDeniedException = AccessDeniedException
    ConflictException = ConflictException
    IdempotentParameterMismatchException = IdempotentParameterMismatchException
    ImageTooLargeException = ImageTooLargeException
    InternalServerError = InternalServerError
    InvalidImageFormatException = InvalidImageFormatException
    InvalidPaginationTokenException = InvalidPaginationTokenException
    InvalidParameterException = InvalidParameterException
    InvalidS3ObjectException = InvalidS3ObjectException
    LimitExceededException = LimitExceededException
    ProvisionedThroughputExceededException = ProvisionedThroughputExceededException
    ResourceAlreadyExistsException = ResourceAlreadyExistsException
    ResourceInUseException = ResourceInUseException
    ResourceNotFoundException = ResourceNotFoundException
    ServiceQuotaExceededException = ServiceQuotaExceededException
    ThrottlingException = ThrottlingException
    VideoTooLargeException = VideoTooLargeException

    def from_code(self, code: str) -> _ClientErrorClass:
        return ALL_ERRORS.get(code, ClientError)


class ParamValidationError(ValueError):
    """A request that breaks the shape of the API (missing required or unknown parameter, wrong type).

    boto3 raises ``botocore.exceptions.ParamValidationError`` for these before anything is sent; facelens
    raises this class, with the same ``Parameter validation failed:`` message form.
    """

    def __init__(self, report: str) -> None:
        self.report = report
        super().__init__(f"Parameter validation failed:\n{report}")
