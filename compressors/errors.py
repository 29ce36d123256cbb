"""Errors raised by compressors.

Two kinds of failure matter to the service: a configuration that can be refused at
submit time (:class:`ConfigError`, mapped to ``INVALID_ARGUMENT``), and a step that
fails while a variant is being built (:class:`CompressionError`), which marks only
that variant as failed.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid compressor configuration.

    ``field`` is the dotted path of the offending setting (for example
    ``steps[0].sparsity``) so that a client can point at it; ``str(error)`` reads
    ``"<field>: <reason>"``.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def with_prefix(self, prefix: str) -> ConfigError:
        """The same error with ``prefix`` prepended to the field path."""
        if not self.field:
            return ConfigError(prefix, self.reason)
        joiner = "" if self.field.startswith("[") else "."
        return ConfigError(f"{prefix}{joiner}{self.field}", self.reason)


class CompressionError(Exception):
    """A compression step failed; the message says why in words a user understands."""
