"""Storage ports: what the rest of ``retention`` needs from a database.

Each port is a :class:`typing.Protocol`, so host applications never inherit from us; the
library ships :class:`~retention.storage.MemoryStore` (the reference model) and
:class:`~retention.storage.SqlStore` (SQLite, PostgreSQL, DuckDB) and one contract suite,
:class:`retention.testing.contracts.StoreContract`, that every implementation passes.

Data crosses the ports as pandas frames with the canonical columns listed below (the same
frames ``retention.ingest`` produces and the planner consumes), plus a few small frozen
result records.  Every instant is an aware datetime and is handed back in UTC; money is
integer minor units with an ISO 4217 currency code.

Operations are atomic: a method either applies all of its batch or raises and applies
nothing.  Database failures surface as :class:`~retention.exceptions.StorageError`
naming the operation, never as driver exceptions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import attrs

from retention.models import CONSENT_COLUMNS as MODEL_CONSENT_COLUMNS
from retention.models import TRANSACTION_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pandas as pd

    from retention.models import Customer, Purchase, SegmentKind

__all__ = [
    "CONSENT_COLUMNS",
    "CUSTOMER_COLUMNS",
    "DEFAULT_LEASE",
    "PURCHASE_COLUMNS",
    "SUPPRESSION_COLUMNS",
    "TERMINAL_TOUCH_STATES",
    "TOUCH_COLUMNS",
    "TOUCH_EVENTS",
    "TOUCH_EVENT_COLUMNS",
    "TOUCH_STATES",
    "ConsentStore",
    "CustomerStore",
    "ErasureResult",
    "IngestCheckpoint",
    "MergeResult",
    "OnConflict",
    "PurchaseStore",
    "PurchaseWriteResult",
    "SegmentStore",
    "Store",
    "TouchStore",
]

#: Columns of the customer-card frames read and written by :class:`CustomerStore`: the keys
#: of :func:`retention.models.customer_to_row` (``emails``, ``phones`` and
#: ``preferred_channels`` hold lists, ``social_profiles`` and ``attributes`` dicts), without
#: ``consents`` (kept apart, see :class:`ConsentStore`), plus the store's ``erased_at``,
#: ``created_at`` and ``updated_at``.
CUSTOMER_COLUMNS = (
    "customer_id",
    "name",
    "emails",
    "phones",
    "social_profiles",
    "birthday",
    "time_zone",
    "language",
    "preferred_channels",
    "acquisition_source",
    "loyalty_level",
    "attributes",
    "erased_at",
    "created_at",
    "updated_at",
)

#: Columns of purchase frames: the canonical transactions of ``retention.ingest`` and
#: :func:`retention.models.purchases_to_frame` (``amount`` is the float view of
#: ``amount_minor``, for numerics; it is derived, never stored).
PURCHASE_COLUMNS = TRANSACTION_COLUMNS

#: Columns of consent frames (:data:`retention.models.CONSENT_COLUMNS`): a consent key is
#: (customer, channel, purpose, topic), topic missing for the whole purpose (DESIGN.md
#: decision 13).  A store keeps the record in force per key.
CONSENT_COLUMNS = MODEL_CONSENT_COLUMNS

#: Columns of the suppression frame: ``subject_kind`` is ``customer`` (``subject`` is the
#: customer id), ``email`` or ``phone`` (``subject`` is the keyed hash of the normalised
#: contact point); ``channel`` ``"*"`` blocks every channel.
SUPPRESSION_COLUMNS = ("subject_kind", "subject", "channel", "reason", "created_at")

#: Columns of touch frames.  ``idempotency_key`` (the planner's key, DESIGN.md decision 6)
#: identifies a touch for its whole life, across retries and workers.
TOUCH_COLUMNS = (
    "idempotency_key",
    "customer_id",
    "scenario",
    "step",
    "channel",
    "send_at",
    "status",
    "reason",
    "attempts",
    "claimed_by",
    "claimed_until",
)

#: Columns of the outcome-event frame.
TOUCH_EVENT_COLUMNS = ("event_id", "idempotency_key", "customer_id", "event", "occurred_at")

#: Touch states (RELIABILITY.md): pending ones first, then the terminal ones.
TOUCH_STATES = (
    "planned",
    "deferred",
    "claimed",
    "unknown",
    "sent",
    "failed",
    "skipped",
    "dead_lettered",
)

#: States a touch never leaves.
TERMINAL_TOUCH_STATES = frozenset({"sent", "failed", "skipped", "dead_lettered"})

#: Provider outcomes recorded against a touch.
TOUCH_EVENTS = (
    "delivered",
    "opened",
    "clicked",
    "converted",
    "soft_bounced",
    "hard_bounced",
    "bounced",
    "unsubscribed",
    "complained",
)

#: Default claim lease (RELIABILITY.md STO-03).
DEFAULT_LEASE = timedelta(minutes=10)

#: What :meth:`PurchaseStore.add_purchases` does with an order id already stored (or seen
#: earlier in the same batch) with a different payload.
OnConflict = Literal["quarantine", "raise", "update"]


@attrs.frozen
class IngestCheckpoint:
    """Where a chunked ingest of ``source`` stands; saved with the chunk it follows.

    Attributes
    ----------
    source
        The file or stream being ingested (a path or a caller-chosen name).
    fingerprint
        A digest of the file's identity; a resume against another fingerprint is a
        :class:`~retention.exceptions.ResumeMismatchError`.  :func:`retention.ingest`
        stores ``"sha256:<hex>"`` of the CSV bytes before ``byte_offset`` (so appending
        to the file keeps it valid) or of the whole Parquet file.
    byte_offset, line
        Where the next chunk starts (bytes and 1-based physical line; for Parquet, rows
        read and the next row's number).
    chunks
        How many chunks are committed.
    counts
        The running report counts (``rows_read``, ``accepted``...) at this point.
    """

    source: str
    fingerprint: str
    byte_offset: int
    line: int
    chunks: int
    counts: dict[str, int] = attrs.field(factory=dict)


@attrs.frozen
class PurchaseWriteResult:
    """What :meth:`PurchaseStore.add_purchases` did with a batch.

    Attributes
    ----------
    stored
        Rows written as new orders (or changed, with ``on_conflict="update"``).
    deduplicated
        Rows whose order id was already stored, or earlier in the batch, with the same
        payload (RELIABILITY.md ING-01).
    conflicts
        The rows refused as ``duplicate_order_conflict`` (ING-02): columns ``order_id``,
        ``line`` (or missing), ``stored_line`` (or missing) and ``columns`` (the differing
        column names, comma-separated).  Empty unless ``on_conflict="quarantine"``.
    updated
        Orders overwritten with ``on_conflict="update"`` (old values are audited).
    customers_created
        Customers of the written orders who had no card and got a stub card.
    """

    stored: int
    deduplicated: int
    conflicts: pd.DataFrame
    updated: int = 0
    customers_created: int = 0


@attrs.frozen
class MergeResult:
    """The outcome of :meth:`CustomerStore.merge_customers` (ids and counts only)."""

    kept: str
    merged: str
    purchases_moved: int
    touches_moved: int
    already_merged: bool


@attrs.frozen
class ErasureResult:
    """The outcome of :meth:`CustomerStore.erase_customer` (no personal data)."""

    customer_id: str
    pseudonym: str
    purchases_kept: int
    contact_hashes: int
    already_erased: bool


@runtime_checkable
class CustomerStore(Protocol):
    """Customer cards, aliases from merges, and erasure."""

    def upsert_customers(self, customers: pd.DataFrame | Iterable[Customer]) -> int:
        """Insert new customers and update changed ones; return how many cards changed.

        ``customers`` is a sequence of :class:`~retention.models.Customer` or a frame with
        a ``customer_id`` column and any of :data:`CUSTOMER_COLUMNS` (rows are validated
        and normalised through :func:`retention.models.customer_from_row`).  From a frame,
        an absent column leaves stored values alone; a :class:`Customer` replaces the
        whole card.  Consents carried by the cards (a ``consents`` column or
        ``Customer.consents``) are recorded as :meth:`ConsentStore.record_consents` does.
        Upserting the same card again changes nothing (not even ``updated_at``); changing
        a field advances ``updated_at``.  An id that is an alias of a merged customer
        updates the kept one.  A duplicate ``customer_id``, two ids merged into the same
        customer, or a column no card field takes (``email`` for ``emails``) is a
        ValidationError; ``erased_at``, ``created_at`` and ``updated_at`` (kept by the
        store) are ignored, so a frame from :meth:`customers` can be passed back.
        """
        ...

    def customers(self, customer_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return customer cards (all, or those named) sorted by id.

        Columns are :data:`CUSTOMER_COLUMNS`.

        Aliases are resolved; unknown ids are left out; erased customers appear under
        their pseudonym with every personal field empty and ``erased_at`` set.
        """
        ...

    def get_customer(self, customer_id: str) -> Customer:
        """Return one customer (aliases resolved) with the consent records in force.

        Raises
        ------
        NotFoundError
            If the customer is not stored.
        """
        ...

    def resolve_customer_id(self, customer_id: str) -> str:
        """Return the id a (possibly merged) customer id now lives under; itself if unknown."""
        ...

    def merge_customers(self, keep: str, merged: str) -> MergeResult:
        """Merge customer ``merged`` into ``keep`` explicitly (RELIABILITY.md ING-12).

        Moves purchases, touches, outcome events and segment memberships to ``keep``;
        fills ``keep``'s empty card fields from ``merged`` and appends ``merged``'s e-mail
        addresses and phones to ``keep``'s; per consent key the most
        restrictive record wins (a withdrawal beats a grant; a key held by one side only is
        kept); customer suppressions become the union; ``merged`` becomes an alias of
        ``keep`` (later writes with the old id land on ``keep``) and the merge is written
        to the audit log.  Merging again is a no-op reporting ``already_merged=True``.

        Raises
        ------
        NotFoundError
            If either customer is unknown.
        ValidationError
            If both ids name the same customer, or one of them is erased.
        """
        ...

    def erase_customer(self, customer_id: str) -> ErasureResult:
        """Erase a person (RELIABILITY.md SEC-05), idempotently.

        Removes every card field (and quarantined rows, consents, aliases and segment
        memberships of the person), re-keys purchases, touches and outcome
        events to a pseudonymous id (a keyed hash of the customer id) so aggregates still
        add up, and stores the keyed hash (HMAC-SHA-256 with the store's secret; SHA-256
        without one) of each normalised e-mail and phone as suppression ``erased`` on every
        channel.  Erasing again (by the old id or the pseudonym) changes nothing and
        reports ``already_erased=True``.

        Raises
        ------
        NotFoundError
            If the customer was never stored.
        """
        ...


@runtime_checkable
class PurchaseStore(Protocol):
    """Purchases and refunds, with order-id deduplication, quarantine and checkpoints."""

    def add_purchases(
        self,
        transactions: pd.DataFrame | Iterable[Purchase],
        *,
        on_conflict: OnConflict = "quarantine",
        checkpoint: IngestCheckpoint
        | Callable[[PurchaseWriteResult], IngestCheckpoint]
        | None = None,
        quarantined: pd.DataFrame | None = None,
    ) -> PurchaseWriteResult:
        """Append ingested purchases in one transaction (RELIABILITY.md ING-01, ING-02).

        ``transactions`` is the canonical frame (:data:`PURCHASE_COLUMNS`; ``kind``,
        ``refund_of``, ``source``, ``category`` optional, ``amount`` ignored; an optional
        ``line`` is kept in conflict reports) or a sequence of
        :class:`~retention.models.Purchase`. An order id already stored, or repeated in the
        batch, with the same payload (customer, instant, amount, currency, kind, refund
        parent) is counted as deduplicated. With a different payload: ``"quarantine"``
        (default) leaves the stored row untouched and records the row as
        ``duplicate_order_conflict``; ``"raise"`` raises DuplicateError and writes nothing;
        ``"update"`` overwrites and audits the old values. Customer ids are resolved through
        merge aliases; unknown customers get a stub card. ``checkpoint``, when given, is
        saved in the same transaction, so a chunk and its checkpoint commit together (a
        callable is given this batch's :class:`PurchaseWriteResult` inside the transaction
        and returns the checkpoint, so its counts can include the store's outcome); so are
        ``quarantined`` rows (the chunk's rejects from ``retention.ingest``: columns
        ``reason`` and ``line``, optional ``order_id``, ``customer_id`` and ``details`` as
        JSON text without personal data), each stored once however often it is re-sent.
        """
        ...

    def purchases(
        self,
        *,
        customer_ids: Iterable[str] | None = None,
        order_ids: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Return purchases (all, or of the named customers or orders) in time order.

        Rows are sorted by (``purchased_at``, ``order_id``); columns are
        :data:`PURCHASE_COLUMNS`.

        ``since`` is inclusive, ``until`` exclusive; both must be aware.  The frame has
        ``purchased_at`` as ``datetime64[us, UTC]``, ``amount_minor`` as int64 and the
        derived float ``amount``, ready for :func:`retention.rfm_summary` (with
        ``datetime_col="purchased_at"``).
        """
        ...

    def quarantined(self) -> pd.DataFrame:
        """Return quarantined rows sorted by id.

        Columns ``quarantine_id``, ``reason``, ``order_id``, ``customer_id``, ``line`` and
        ``details`` (JSON: the differing columns and the stored row's line).
        """
        ...

    def checkpoint(self, source: str) -> IngestCheckpoint | None:
        """Return the last checkpoint saved for ``source``, or ``None``."""
        ...


@runtime_checkable
class ConsentStore(Protocol):
    """Consents per (channel, purpose, topic) and the suppression list."""

    def record_consents(self, consents: pd.DataFrame) -> int:
        """Upsert consent records (:data:`CONSENT_COLUMNS`); return how many changed.

        ``channel`` and ``purpose`` take :class:`~retention.models.ChannelKind` and
        :class:`~retention.models.Purpose` values.  A record older (``recorded_at``) than the
        stored one for the same key is ignored, so replays and out-of-order imports cannot
        resurrect a withdrawn consent; at equal times a withdrawal wins.
        """
        ...

    def consents(self, customer_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return consent records sorted by key, columns :data:`CONSENT_COLUMNS`."""
        ...

    def suppress_customer(self, customer_id: str, *, channel: str = "*", reason: str) -> bool:
        """Suppress a customer on ``channel`` (``"*"`` = all); return whether it was new."""
        ...

    def suppress_contact(
        self, contact: str, *, kind: Literal["email", "phone"], channel: str = "*", reason: str
    ) -> bool:
        """Suppress a normalised contact point by its keyed hash; return whether it was new."""
        ...

    def contact_hash(self, contact: str, *, kind: Literal["email", "phone"]) -> str:
        """Return the keyed hash under which a contact point is suppressed."""
        ...

    def suppressions(self) -> pd.DataFrame:
        """Return the suppression list, columns :data:`SUPPRESSION_COLUMNS`."""
        ...

    def is_suppressed(self, customer_id: str, *, channel: str) -> bool:
        """Return whether a customer may not be contacted on ``channel``.

        True when the customer, or the hash of its stored e-mail or phone, is suppressed
        on ``channel`` or on ``"*"``.
        """
        ...


@runtime_checkable
class SegmentStore(Protocol):
    """Named segments and their members."""

    def replace_segment(
        self, segment: str, customer_ids: Iterable[str], *, kind: SegmentKind | str
    ) -> int:
        """Make ``customer_ids`` the members of ``segment`` atomically; return the member count.

        ``segment`` is a name (a value, bound as a parameter like any other); ``kind`` a
        :class:`~retention.models.SegmentKind`; ids are resolved through merge aliases.
        """
        ...

    def segments(self) -> pd.DataFrame:
        """Return ``segment``, ``kind`` and ``members`` (count) per segment, sorted by name."""
        ...

    def segment_members(self, segment: str) -> list[str]:
        """Return the sorted member ids of ``segment`` (empty for an unknown segment)."""
        ...


@runtime_checkable
class TouchStore(Protocol):
    """Planned touches, atomic leased claims and outcome events."""

    def plan_touches(self, touches: pd.DataFrame) -> int:
        """Store planned touches (:data:`TOUCH_COLUMNS` up to ``send_at``); return how many are new.

        A touch whose idempotency key is already stored is left as it is (re-planning is
        idempotent).  New touches start ``planned`` with zero attempts.
        """
        ...

    def claim_due(
        self, *, as_of: datetime, worker: str, limit: int = 100, lease: timedelta = DEFAULT_LEASE
    ) -> pd.DataFrame:
        """Atomically claim up to ``limit`` due touches for ``worker`` (STO-02, STO-03).

        Due means ``planned``/``deferred`` with ``send_at <= as_of``, or ``claimed`` with an
        expired lease (``claimed_until <= as_of``).  Claimed touches get status
        ``claimed``, ``claimed_by=worker``, ``claimed_until=as_of + lease`` and one more
        attempt; their idempotency key never changes.  Concurrent workers never claim the
        same touch; a worker that finds nothing gets an empty frame, not an error.
        """
        ...

    def finish_touch(
        self,
        idempotency_key: str,
        *,
        worker: str,
        status: str,
        as_of: datetime,
        reason: str | None = None,
        send_at: datetime | None = None,
    ) -> bool:
        """Record the result of a claimed touch; return whether this worker still held it.

        ``status`` is any state but ``planned``/``claimed``; ``deferred`` needs a new
        ``send_at``.  A worker whose lease expired and was taken over gets ``False`` and
        changes nothing.
        """
        ...

    def touches(
        self, *, status: str | None = None, customer_ids: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Return touches sorted by (``send_at``, ``idempotency_key``) (:data:`TOUCH_COLUMNS`)."""
        ...

    def record_event(
        self,
        idempotency_key: str,
        event: str,
        *,
        occurred_at: datetime,
        event_id: str | None = None,
    ) -> bool:
        """Record a provider outcome once; return whether it was new.

        Deduplicated by ``event_id``, else by (touch, event).  ``unsubscribed`` and
        ``complained`` suppress the customer on the touch's channel at once.

        Raises
        ------
        NotFoundError
            If the touch is unknown (the caller quarantines it as ``unknown_touch``).
        """
        ...

    def events(self, idempotency_key: str | None = None) -> pd.DataFrame:
        """Return outcome events sorted by (``occurred_at``, ``event_id``)."""
        ...


@runtime_checkable
class Store(CustomerStore, PurchaseStore, ConsentStore, SegmentStore, TouchStore, Protocol):
    """Everything ``retention`` keeps: the union of the storage ports.

    Attributes
    ----------
    persistent
        Whether the data outlives the process and can be opened by other processes
        (False for :class:`~retention.storage.MemoryStore`).
    multi_process_writers
        Whether several processes may write at once (False for DuckDB, whose file allows
        one writer process; a second one gets a StorageError at once).
    """

    persistent: bool
    multi_process_writers: bool

    def schema_version(self) -> str | None:
        """Return the schema version found in the database (``None`` for an empty one)."""
        ...

    def migrate(self) -> str:
        """Bring the schema to this library's version (never dropping data); return it."""
        ...

    def verify(self) -> None:
        """Check invariants (touch states, key references); raise StorageError if broken."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
