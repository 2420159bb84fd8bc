"""API-key authentication.

With ``MEDIAFERRY_API_KEY`` set, every API call needs ``Authorization: Bearer <key>``
(the event stream and file downloads also take ``?key=``, since a browser's
EventSource and plain links cannot send headers). Without a key, only loopback
clients are served, and a request that came through a proxy (it carries
``Forwarded`` / ``X-Forwarded-For`` / ``X-Real-IP``) does not count as loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mediaferry.config import Settings
from mediaferry.web._http import ApiError

__all__ = ["is_loopback", "require_key", "require_key_or_query"]

_bearer = HTTPBearer(auto_error=False, description="MEDIAFERRY_API_KEY as a Bearer token")
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


def _check(request: Request, given: str | None) -> None:
    secret = _settings(request).api_key
    if secret is None:
        client = request.client.host if request.client else None
        proxied = any(h in request.headers for h in _PROXY_HEADERS)
        if not is_loopback(client) or proxied:
            raise ApiError(
                403,
                "no API key is configured, so only local (loopback) clients are served",
            )
        return
    expected = secret.get_secret_value().encode()
    if given is None:
        raise ApiError(
            401,
            "an API key is required: send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.encode(), expected):
        raise ApiError(401, "the API key is wrong", headers={"WWW-Authenticate": "Bearer"})


async def require_key(request: Request, creds: Credentials) -> None:
    """Dependency: the Bearer key (or a loopback client when no key is configured)."""
    _check(request, creds.credentials if creds else None)


async def require_key_or_query(
    request: Request,
    creds: Credentials,
    key: Annotated[
        str | None, Query(max_length=512, description="API key, for EventSource and links")
    ] = None,
) -> None:
    """Like :func:`require_key`, also accepting ``?key=``."""
    _check(request, creds.credentials if creds else key)
