"""AWS Signature Version 4 verification (``Authorization: AWS4-HMAC-SHA256 ...``), hmac/hashlib only.

The server recomputes the signature the way botocore's ``SigV4Auth`` makes it: canonical request (method, URI,
query, the signed headers, the payload's sha256), string to sign with the credential scope, and the key derived
from the secret. Failures are raised as :class:`AuthError` carrying AWS's error code.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from typing import Dict, Mapping, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = _dt.timedelta(minutes=15)  # AWS rejects requests signed more than 15 minutes away from its clock


class AuthError(Exception):
    """A request that fails authentication: HTTP 403 with AWS's ``__type``."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


_AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256\s+(.*)$", re.S)


def parse_authorization(value: str) -> Tuple[str, str, str, str, str, Sequence[str], str]:
    """(access key, date, region, service, terminator, signed headers, signature) of an Authorization header."""
    m = _AUTH_RE.match(value.strip())
    if not m:
        raise AuthError("IncompleteSignatureException",
                        f"Authorization header requires the {ALGORITHM} algorithm.")
    parts: Dict[str, str] = {}
    for item in m.group(1).split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise AuthError("IncompleteSignatureException",
                        f"Authorization header requires '{missing[0]}' parameter. Authorization={value[:200]}")
    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        raise AuthError("IncompleteSignatureException",
                        f"Credential should be scoped to a valid region, not '{parts['Credential'][:200]}'.")
    access_key, date, region, service, terminator = scope
    signed = parts["SignedHeaders"].split(";")
    return access_key, date, region, service, terminator, signed, parts["Signature"]


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def canonical_request(method: str, path: str, query: str, headers: Mapping[str, Sequence[str]],
                      signed: Sequence[str], payload_hash: str) -> str:
    lines = []
    for name in signed:
        values = headers.get(name)
        if values is None:
            raise AuthError("InvalidSignatureException",
                            f"The request signature we calculated does not match the signature you provided: "
                            f"signed header '{name}' is not in the request.")
        lines.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}")
    uri = quote(unquote(path) or "/", safe="/~")
    return "\n".join([method, uri, canonical_query(query), "\n".join(lines) + "\n", ";".join(signed), payload_hash])


class Verifier:
    """Checks SigV4 signatures against a table of access key id → secret access key."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = dict(keys)

    def verify(self, method: str, path: str, query: str, headers: Mapping[str, Sequence[str]], body: bytes,
               now: Optional[_dt.datetime] = None) -> str:
        """Returns the access key id of a correctly signed request, or raises AuthError."""
        auth = headers.get("authorization")
        if not auth:
            raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
        access_key, date, region, service, terminator, signed, signature = parse_authorization(auth[0])
        secret = self.keys.get(access_key)
        if secret is None:
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
        if terminator != "aws4_request":
            raise AuthError("IncompleteSignatureException", "Credential should be scoped with 'aws4_request'.")
        amz_date = (headers.get("x-amz-date") or headers.get("date") or [""])[0]
        try:
            when = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            raise AuthError("IncompleteSignatureException",
                            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header "
                            "in the form yyyyMMddTHHmmssZ.") from None
        if date != amz_date[:8]:
            raise AuthError("InvalidSignatureException",
                            f"Credential should be scoped to a valid date: '{date}' is not the date of {amz_date}.")
        now = now or _dt.datetime.now(_dt.timezone.utc)
        if abs(now - when) > MAX_SKEW:
            fmt = "%Y%m%dT%H%M%SZ"
            raise AuthError("InvalidSignatureException",
                            f"Signature expired: {amz_date} is now earlier or later than "
                            f"{(now - MAX_SKEW).strftime(fmt)} .. {(now + MAX_SKEW).strftime(fmt)} "
                            f"({now.strftime(fmt)} ± 15 min.)")
        signed = [h.strip().lower() for h in signed]
        if "host" not in signed:
            raise AuthError("InvalidSignatureException", "'Host' must be a signed header.")
        payload_hash = hashlib.sha256(body).hexdigest()
        declared_values = headers.get("x-amz-content-sha256")
        declared = declared_values[0] if declared_values else None
        if declared is not None and declared != payload_hash:
            raise AuthError("InvalidSignatureException",
                            "The provided 'x-amz-content-sha256' header does not match what was computed.")
        creq = canonical_request(method, path, query, headers, signed, payload_hash)
        scope = f"{date}/{region}/{service}/{terminator}"
        to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
        expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
        # Compared as bytes: a header may carry any byte (decoded as latin-1), which str comparison refuses.
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "surrogateescape")):
            raise AuthError("InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method. Consult the service "
                            "documentation for details.")
        return access_key
