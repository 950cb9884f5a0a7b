"""The wall clock the stores use for audit columns (``created_at``, ``updated_at``).

Stores read it only to stamp when a row was written; every decision (which touch is due,
whether a lease expired) takes an explicit ``as_of`` from the caller.  Tests and hosts
inject their own clock with ``open_store(url, clock=...)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["system_clock"]


def system_clock() -> datetime:
    """Return the current UTC instant (the default audit clock of a store)."""
    return datetime.now(UTC)  # audit stamps only; decisions take as_of (module docstring)
