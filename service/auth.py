"""Bearer-token authentication and per-token isolation.

Tokens are configured as sha256 hashes, never in clear text: a tokens file holds
one ``NAME sha256:HEX`` per line (``#`` comments allowed), and the environment
variable ``ROBUSTEDGE_TOKENS`` may add ``NAME=sha256:HEX`` pairs separated by
commas. ``robustedge-server --hash-token`` turns a token read from stdin into such
a line. A client sends ``authorization: Bearer TOKEN``; the server hashes it and
compares against every configured hash in constant time.

Each token name is a principal. Models, datasets and jobs belong to the principal
that created them, and another principal asking for them gets NOT_FOUND (not
PERMISSION_DENIED, which would confirm that the id exists). Without configured
tokens every caller is the anonymous principal, and the server refuses to bind a
non-loopback address unless told to run insecure.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from robustedge.service.errors import Unauthenticated, wrap_handler

TOKENS_ENV = "ROBUSTEDGE_TOKENS"
_HASH = re.compile(r"^sha256:([0-9a-f]{64})$")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# Methods that answer without a token: container health checks and service discovery.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

ANONYMOUS = ""
current_principal: contextvars.ContextVar[str] = contextvars.ContextVar(
    "robustedge_principal", default=ANONYMOUS
)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenConfigError(ValueError):
    """The tokens file or environment variable is malformed."""


@dataclass(frozen=True)
class TokenRegistry:
    """Principal name -> token hash."""

    hashes: dict[str, bytes]

    @property
    def enabled(self) -> bool:
        return bool(self.hashes)

    @classmethod
    def load(cls, path: Path | None = None, env: str | None = None) -> TokenRegistry:
        entries: list[tuple[str, str]] = []
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise TokenConfigError(f"cannot read tokens file: {exc.strerror}") from exc
            for number, line in enumerate(text.splitlines(), start=1):
                line = line.split("#", 1)[0].strip()
                if line:
                    parts = line.split()
                    if len(parts) != 2:
                        raise TokenConfigError(f"tokens file line {number}: expected NAME HASH")
                    entries.append((parts[0], parts[1]))
        raw_env = os.environ.get(TOKENS_ENV, "") if env is None else env
        for item in filter(None, (p.strip() for p in raw_env.split(","))):
            name, _, hashed = item.partition("=")
            entries.append((name.strip(), hashed.strip()))
        return cls(_parse_entries(entries))

    def authenticate(self, token: str) -> str | None:
        """Returns the principal of a token, or None. Compares against every hash."""
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for name, expected in self.hashes.items():
            if hmac.compare_digest(presented, expected):
                found = name
        return found


def _parse_entries(entries: Iterable[tuple[str, str]]) -> dict[str, bytes]:
    hashes: dict[str, bytes] = {}
    for name, hashed in entries:
        if not _NAME.match(name):
            raise TokenConfigError(f"invalid principal name {name!r}")
        match = _HASH.match(hashed)
        if not match:
            raise TokenConfigError(
                f"token of {name!r} must be given as sha256:HEX (use --hash-token), not clear text"
            )
        if name in hashes:
            raise TokenConfigError(f"principal {name!r} is configured twice")
        hashes[name] = bytes.fromhex(match.group(1))
    return hashes


def _bearer(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer ") :].strip()
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    """Resolves the caller's principal and makes it available as ``current_principal``."""

    def __init__(self, registry: TokenRegistry) -> None:
        self.registry = registry

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        public = handler_call_details.method.startswith(PUBLIC_METHOD_PREFIXES)
        if public or not self.registry.enabled:
            return handler
        registry = self.registry

        def around(
            behavior: Callable[..., Any], request: Any, context: grpc.ServicerContext
        ) -> Any:
            token = _bearer(context)
            principal = registry.authenticate(token) if token else None
            if principal is None:
                raise Unauthenticated(
                    "a valid bearer token is required (Client(token=...) or $ROBUSTEDGE_TOKEN)"
                )
            current_principal.set(principal)
            return behavior(request, context)

        return wrap_handler(handler, around)
