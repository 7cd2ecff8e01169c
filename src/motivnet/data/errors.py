"""Errors for bad dataset entries, and the policy for them: raise, or count and skip."""
from __future__ import annotations


class DataError(ValueError):
    """A dataset entry that cannot be used. ``str(err)`` is ``<file>[:<line>]: <reason>``."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class BadItems:
    """Where readers send bad rows, missing files and unknown labels.

    With ``skip=False`` the first one raises ``DataError``; with ``skip=True`` each is
    recorded (never silently dropped) so callers can report ``count`` and ``messages``.
    """

    def __init__(self, skip: bool = False) -> None:
        self.skip = skip
        self.messages: list[str] = []

    def report(self, where: str, reason: str) -> None:
        if not self.skip:
            raise DataError(where, reason)
        self.messages.append(f"{where}: {reason}")

    @property
    def count(self) -> int:
        return len(self.messages)

    def summary(self, limit: int = 5) -> str:
        """One human line: how many were skipped and the first few reasons."""
        if not self.messages:
            return "0 bad entries skipped"
        head = "; ".join(self.messages[:limit])
        more = f" (+{self.count - limit} more)" if self.count > limit else ""
        return f"{self.count} bad entries skipped: {head}{more}"


__all__ = ["BadItems", "DataError"]
