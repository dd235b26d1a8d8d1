"""Typed domain errors. Services raise these; the API renders them as RFC 7807 problems and
pages show them as form errors. A standard protocol may render them in its own format."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"
    title = "Invalid request"

    def __init__(
        self, message: str, *, errors: dict[str, list[str]] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.extra = extra


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = "Validation failed"

    @classmethod
    def on(cls, field: str, message: str, **extra: Any) -> ValidationFailed:
        """The error of one field: `message` as the whole message and as the field's."""
        return cls(message, errors={field: [message]}, **extra)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    title = "Permission denied"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"
    title = "Authentication required"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"
