"""``MemoryStore``: the in-process store and the reference model of every other store."""

from __future__ import annotations

import contextlib
import copy
import threading
import uuid
from typing import TYPE_CHECKING, Any, Literal

import attrs
import pandas as pd

from retention._validation import check_identifier, require_aware
from retention.exceptions import NotFoundError, StorageError
from retention.storage import _rows
from retention.storage._clock import system_clock
from retention.storage.base import (
    CUSTOMER_COLUMNS,
    DEFAULT_LEASE,
    SUPPRESSION_COLUMNS,
    TOUCH_COLUMNS,
    TOUCH_EVENT_COLUMNS,
    ErasureResult,
    IngestCheckpoint,
    MergeResult,
    OnConflict,
    PurchaseWriteResult,
)
from retention.storage.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime, timedelta

    from retention.models import Customer, Purchase, SegmentKind

__all__ = ["MemoryStore"]

Row = dict[str, Any]
_TABLES = (
    "customers",
    "aliases",
    "purchases",
    "consents",
    "suppressions",
    "segments",
    "memberships",
    "touches",
    "events",
    "quarantine",
    "audit",
    "checkpoints",
)


@attrs.define
class MemoryStore:
    """A store that keeps everything in process memory (the reference behaviour).

    Every write applies its whole batch or, on error, nothing.  Use it for tests, notebooks
    and small jobs; open a SQL store with :func:`retention.open_store` to persist data.

    Parameters
    ----------
    secret
        Key of the HMAC-SHA-256 contact hashes kept after erasure and in the suppression
        list; without it plain SHA-256 is used.
    clock
        Returns the aware instant stamped into ``created_at``/``updated_at``.

    Examples
    --------
    >>> import pandas as pd
    >>> store = MemoryStore()
    >>> cards = pd.DataFrame({"customer_id": ["c1"], "time_zone": ["Europe/Berlin"]})
    >>> store.upsert_customers(cards)
    1
    >>> store.customers()["customer_id"].tolist()
    ['c1']
    """

    secret: bytes | None = attrs.field(default=None, kw_only=True)
    clock: _rows.Clock = attrs.field(default=system_clock, kw_only=True)
    persistent: bool = attrs.field(default=False, init=False)
    multi_process_writers: bool = attrs.field(default=False, init=False)
    _data: dict[str, dict[Any, Row]] = attrs.field(
        init=False, factory=lambda: {table: {} for table in _TABLES}
    )
    _closed: bool = attrs.field(default=False, init=False)
    _lock: threading.RLock = attrs.field(init=False, factory=threading.RLock)

    # -- plumbing -----------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[dict[str, dict[Any, Row]]]:
        with self._lock:
            if self._closed:
                msg = "the store is closed; open a new one"
                raise StorageError(msg)
            working = {table: dict(rows) for table, rows in self._data.items()}
            yield working
            self._data = working

    def _now(self) -> datetime:
        return require_aware(self.clock(), name="clock()")

    @staticmethod
    def _resolve(data: dict[str, dict[Any, Row]], customer_id: str) -> str:
        alias = data["aliases"].get(customer_id)
        return customer_id if alias is None else str(alias["customer_id"])

    def _audit(
        self, data: dict[str, dict[Any, Row]], action: str, subject: str, **details: object
    ) -> None:
        audit_id = uuid.uuid4().hex
        data["audit"][audit_id] = {
            "audit_id": audit_id,
            "action": action,
            "subject": subject,
            "details": _rows.audit_details(**details),
            "created_at": self._now(),
        }

    def _ensure_customers(self, data: dict[str, dict[Any, Row]], ids: Iterable[str]) -> int:
        """Give each customer in ``ids`` without a card a stub card; return how many."""
        now = self._now()
        created = 0
        for customer_id in ids:
            if customer_id not in data["customers"]:
                data["customers"][customer_id] = _rows.empty_card(customer_id, now)
                created += 1
        return created

    # -- customers ----------------------------------------------------------------
    def upsert_customers(self, customers: pd.DataFrame | Iterable[Customer]) -> int:
        """Insert new customers and update changed ones (see ``CustomerStore``)."""
        rows, fields, consents = _rows.customer_rows(customers)
        changed = 0
        with self._transaction() as data:
            now = self._now()
            ids = [row["customer_id"] for row in rows]
            _rows.check_one_card_per_customer(ids, {i: self._resolve(data, i) for i in ids})
            for row in rows:
                customer_id = self._resolve(data, row["customer_id"])
                existing = data["customers"].get(customer_id)
                values = {field: row[field] for field in fields}
                if existing is None:
                    data["customers"][customer_id] = {
                        **_rows.empty_card(customer_id, now),
                        **values,
                    }
                    changed += 1
                elif any(existing[field] != values[field] for field in fields):
                    data["customers"][customer_id] = {**existing, **values, "updated_at": now}
                    changed += 1
            self._apply_consents(data, consents, now)
        return changed

    def customers(self, customer_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return customer cards sorted by id; see :class:`~retention.storage.CustomerStore`."""
        data = self._data
        if customer_ids is None:
            keys = sorted(data["customers"])
        else:
            keys = sorted({self._resolve(data, c) for c in customer_ids} & set(data["customers"]))
        return _rows.frame_of((data["customers"][k] for k in keys), CUSTOMER_COLUMNS)

    def get_customer(self, customer_id: str) -> Customer:
        """Return one customer with the consent records in force (see ``CustomerStore``)."""
        data = self._data
        resolved = self._resolve(data, customer_id)
        card = data["customers"].get(resolved)
        if card is None:
            msg = f"customer {customer_id!r} is not stored"
            raise NotFoundError(msg)
        consents = [row for row in data["consents"].values() if row["customer_id"] == resolved]
        return _rows.card_to_customer(card, consents)

    def resolve_customer_id(self, customer_id: str) -> str:
        """Return the id a (possibly merged) customer now lives under."""
        return self._resolve(self._data, customer_id)

    def merge_customers(self, keep: str, merged: str) -> MergeResult:  # noqa: C901, PLR0912 - one step per table, in order
        """Merge ``merged`` into ``keep``; see :class:`~retention.storage.CustomerStore`."""
        with self._transaction() as data:
            alias = data["aliases"].get(merged)
            keep_id = self._resolve(data, keep)
            if alias is not None and alias["customer_id"] == keep_id:
                return MergeResult(keep_id, merged, 0, 0, already_merged=True)
            merged_id = self._resolve(data, merged)
            _rows.check_mergeable(keep_id, merged_id, data["customers"])
            now = self._now()
            moved = 0
            for order_id, row in list(data["purchases"].items()):
                if row["customer_id"] == merged_id:
                    data["purchases"][order_id] = {**row, "customer_id": keep_id, "updated_at": now}
                    moved += 1
            touches = 0
            for key, row in list(data["touches"].items()):
                if row["customer_id"] == merged_id:
                    data["touches"][key] = {**row, "customer_id": keep_id, "updated_at": now}
                    touches += 1
            for key, row in list(data["events"].items()):
                if row["customer_id"] == merged_id:
                    data["events"][key] = {**row, "customer_id": keep_id}
            for (segment, customer_id), _ in list(data["memberships"].items()):
                if customer_id == merged_id:
                    del data["memberships"][segment, customer_id]
                    data["memberships"][segment, keep_id] = {
                        "segment": segment,
                        "customer_id": keep_id,
                    }
            kept_card = data["customers"][keep_id]
            merged_card = data["customers"].pop(merged_id)
            filled = _rows.merged_card(kept_card, merged_card)
            if filled:
                data["customers"][keep_id] = {**kept_card, **filled, "updated_at": now}
            for key, row in list(data["consents"].items()):
                if row["customer_id"] != merged_id:
                    continue
                del data["consents"][key]
                target = (keep_id, *key[1:])
                existing = data["consents"].get(target)
                winner = _rows.more_restrictive(existing, {**row, "customer_id": keep_id})
                if winner is not existing:
                    data["consents"][target] = {**winner, "updated_at": now}
            for key, row in list(data["suppressions"].items()):
                if row["subject_kind"] == "customer" and row["subject"] == merged_id:
                    del data["suppressions"][key]
                    target = ("customer", keep_id, row["channel"])
                    data["suppressions"].setdefault(target, {**row, "subject": keep_id})
            for alias_id, row in list(data["aliases"].items()):
                if row["customer_id"] == merged_id:
                    data["aliases"][alias_id] = {**row, "customer_id": keep_id}
            data["aliases"][merged_id] = {
                "alias_id": merged_id,
                "customer_id": keep_id,
                "created_at": now,
            }
            self._audit(data, "merge", keep_id, merged=merged_id, purchases=moved, touches=touches)
        return MergeResult(keep_id, merged_id, moved, touches, already_merged=False)

    def erase_customer(self, customer_id: str) -> ErasureResult:  # noqa: C901, PLR0912 - one step per table, in order
        """Erase a person; see :class:`~retention.storage.CustomerStore`."""
        with self._transaction() as data:
            resolved = self._resolve(data, customer_id)
            pseudonym = (
                resolved
                if _rows.is_pseudonym(resolved)
                else _rows.pseudonym_of(resolved, secret=self.secret)
            )
            card = data["customers"].get(resolved)
            if card is None or card["erased_at"] is not None:
                tombstone = data["customers"].get(pseudonym)
                if tombstone is not None and tombstone["erased_at"] is not None:
                    kept = sum(r["customer_id"] == pseudonym for r in data["purchases"].values())
                    return ErasureResult(resolved, pseudonym, kept, 0, already_erased=True)
                msg = f"customer {customer_id!r} is not stored; nothing to erase"
                raise NotFoundError(msg)
            now = self._now()
            hashes = _rows.erasure_hashes(card, secret=self.secret)
            for kind, digest in hashes:
                data["suppressions"].setdefault(
                    (kind, digest, "*"),
                    {
                        "subject_kind": kind,
                        "subject": digest,
                        "channel": "*",
                        "reason": "erased",
                        "created_at": now,
                    },
                )
            former_ids = {resolved} | {
                alias_id
                for alias_id, row in data["aliases"].items()
                if row["customer_id"] == resolved
            }
            kept = 0
            for order_id, row in list(data["purchases"].items()):
                if row["customer_id"] == resolved:
                    data["purchases"][order_id] = {
                        **row,
                        "customer_id": pseudonym,
                        "updated_at": now,
                    }
                    kept += 1
            for key, row in list(data["touches"].items()):
                if row["customer_id"] == resolved:
                    data["touches"][key] = {**row, "customer_id": pseudonym, "updated_at": now}
            for key, row in list(data["events"].items()):
                if row["customer_id"] == resolved:
                    data["events"][key] = {**row, "customer_id": pseudonym}
            for key, row in list(data["consents"].items()):
                if row["customer_id"] == resolved:
                    del data["consents"][key]
            for key in [k for k in data["memberships"] if k[1] == resolved]:
                del data["memberships"][key]
            for alias_id in former_ids - {resolved}:
                del data["aliases"][alias_id]
            for key, row in list(data["quarantine"].items()):
                if row["customer_id"] in former_ids:
                    del data["quarantine"][key]
            for key, row in list(data["suppressions"].items()):
                if row["subject_kind"] == "customer" and row["subject"] == resolved:
                    del data["suppressions"][key]
                    data["suppressions"].setdefault(
                        ("customer", pseudonym, row["channel"]), {**row, "subject": pseudonym}
                    )
            del data["customers"][resolved]
            # the same id erased again after a re-ingest keeps its first tombstone
            data["customers"].setdefault(
                pseudonym,
                {
                    **_rows.empty_card(pseudonym, now),
                    "erased_at": now,
                    "created_at": card["created_at"],
                },
            )
            self._audit(data, "erase", pseudonym, purchases=kept, contact_hashes=len(hashes))
        return ErasureResult(resolved, pseudonym, kept, len(hashes), already_erased=False)

    # -- purchases ----------------------------------------------------------------
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
        """Append purchases in one transaction; see :class:`~retention.storage.PurchaseStore`."""
        _rows.check_on_conflict(on_conflict)
        batch = _rows.purchase_rows(transactions)
        rejects = [] if quarantined is None else _rows.reject_rows(quarantined)
        with self._transaction() as data:
            for row in batch:
                row["customer_id"] = self._resolve(data, row["customer_id"])
            stored = {
                row["order_id"]: data["purchases"][row["order_id"]]
                for row in batch
                if row["order_id"] in data["purchases"]
            }
            outcome = _rows.classify_purchases(batch, stored, on_conflict=on_conflict)
            now = self._now()
            owners = {row["customer_id"] for row in outcome.new}
            owners.update(new["customer_id"] for _, new in outcome.updates)
            created = self._ensure_customers(data, owners)
            for row in outcome.new:
                data["purchases"][row["order_id"]] = {
                    **{column: row[column] for column in _rows.STORED_PURCHASE_COLUMNS},
                    "created_at": now,
                    "updated_at": now,
                }
            for old, new in outcome.updates:
                data["purchases"][new["order_id"]] = {
                    **old,
                    **{column: new[column] for column in _rows.STORED_PURCHASE_COLUMNS},
                    "updated_at": now,
                }
                self._audit(data, "purchase_update", new["order_id"], **_rows.old_values(old))
            for conflict in outcome.conflicts:
                row = _rows.quarantine_row(conflict, now)
                data["quarantine"].setdefault(row["quarantine_id"], row)
            for reject in rejects:
                data["quarantine"].setdefault(
                    reject["quarantine_id"], {**reject, "created_at": now}
                )
            result = PurchaseWriteResult(
                stored=len(outcome.new) + len(outcome.updates),
                deduplicated=outcome.deduplicated,
                conflicts=_rows.conflicts_frame(outcome.conflicts),
                updated=len(outcome.updates),
                customers_created=created,
            )
            if checkpoint is not None:
                saved = checkpoint(result) if callable(checkpoint) else checkpoint
                data["checkpoints"][saved.source] = _rows.checkpoint_row(saved, now)
        return result

    def purchases(
        self,
        *,
        customer_ids: Iterable[str] | None = None,
        order_ids: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Return purchases sorted by time and order id (see ``PurchaseStore``)."""
        data = self._data
        rows = list(data["purchases"].values())
        if customer_ids is not None:
            wanted = {self._resolve(data, c) for c in customer_ids}
            rows = [r for r in rows if r["customer_id"] in wanted]
        if order_ids is not None:
            orders = set(order_ids)
            rows = [r for r in rows if r["order_id"] in orders]
        if since is not None:
            start = require_aware(since, name="since")
            rows = [r for r in rows if r["purchased_at"] >= start]
        if until is not None:
            end = require_aware(until, name="until")
            rows = [r for r in rows if r["purchased_at"] < end]
        rows.sort(key=lambda r: (r["purchased_at"], r["order_id"]))
        return _rows.purchases_frame_of(rows)

    def quarantined(self) -> pd.DataFrame:
        """Return quarantined rows sorted by id."""
        rows = sorted(self._data["quarantine"].values(), key=lambda r: r["quarantine_id"])
        return _rows.frame_of(rows, _rows.QUARANTINE_COLUMNS)

    def checkpoint(self, source: str) -> IngestCheckpoint | None:
        """Return the last checkpoint saved for ``source``."""
        row = self._data["checkpoints"].get(source)
        return None if row is None else _rows.checkpoint_from_row(row)

    # -- consents and suppressions -----------------------------------------------
    def record_consents(self, consents: pd.DataFrame) -> int:
        """Upsert consent records (see ``ConsentStore``)."""
        rows = _rows.consent_rows(consents)
        with self._transaction() as data:
            return self._apply_consents(data, rows, self._now())

    def _apply_consents(  # the shared step of record_consents and upsert_customers
        self, data: dict[str, dict[Any, Row]], rows: list[Row], now: datetime
    ) -> int:
        changed = 0
        for row in rows:
            row = {**row, "customer_id": self._resolve(data, row["customer_id"])}  # noqa: PLW2901
            key = tuple(row[k] for k in _rows.CONSENT_KEY)
            existing = data["consents"].get(key)
            if existing is None:
                data["consents"][key] = {**row, "created_at": now, "updated_at": now}
                changed += 1
            elif _rows.consent_changes(existing, row):
                data["consents"][key] = {**existing, **row, "updated_at": now}
                changed += 1
        return changed

    def consents(self, customer_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Return consent records sorted by key."""
        data = self._data
        rows = [data["consents"][k] for k in sorted(data["consents"])]
        if customer_ids is not None:
            wanted = {self._resolve(data, c) for c in customer_ids}
            rows = [r for r in rows if r["customer_id"] in wanted]
        return _rows.consents_frame_of(rows)

    def suppress_customer(self, customer_id: str, *, channel: str = "*", reason: str) -> bool:
        """Suppress a customer on ``channel``; return whether it was new."""
        _rows.check_channel(channel)
        check_identifier(reason, what="reason")
        with self._transaction() as data:
            resolved = self._resolve(data, customer_id)
            return self._suppress(data, "customer", resolved, channel, reason)

    def _suppress(
        self, data: dict[str, dict[Any, Row]], kind: str, subject: str, channel: str, reason: str
    ) -> bool:
        key = (kind, subject, channel)
        if key in data["suppressions"]:
            return False
        data["suppressions"][key] = {
            "subject_kind": kind,
            "subject": subject,
            "channel": channel,
            "reason": reason,
            "created_at": self._now(),
        }
        return True

    def suppress_contact(
        self, contact: str, *, kind: Literal["email", "phone"], channel: str = "*", reason: str
    ) -> bool:
        """Suppress a contact point by its keyed hash; return whether it was new."""
        _rows.check_channel(channel)
        check_identifier(reason, what="reason")
        digest = self.contact_hash(contact, kind=kind)
        with self._transaction() as data:
            return self._suppress(data, kind, digest, channel, reason)

    def contact_hash(self, contact: str, *, kind: Literal["email", "phone"]) -> str:
        """Return the keyed hash under which a contact point is suppressed."""
        return _rows.contact_hash(contact, kind=kind, secret=self.secret)

    def suppressions(self) -> pd.DataFrame:
        """Return the suppression list sorted by key."""
        data = self._data["suppressions"]
        return _rows.frame_of((data[k] for k in sorted(data)), SUPPRESSION_COLUMNS)

    def is_suppressed(self, customer_id: str, *, channel: str) -> bool:
        """Return whether a customer may not be contacted on ``channel``."""
        data = self._data
        resolved = self._resolve(data, customer_id)
        subjects = [("customer", resolved)]
        card = data["customers"].get(resolved)
        if card is not None:
            subjects += _rows.erasure_hashes(card, secret=self.secret)
        return any(
            (kind, subject, wanted) in data["suppressions"]
            for kind, subject in subjects
            for wanted in (channel, "*")
        )

    # -- segments -----------------------------------------------------------------
    def replace_segment(
        self, segment: str, customer_ids: Iterable[str], *, kind: SegmentKind | str
    ) -> int:
        """Make ``customer_ids`` the members of ``segment`` atomically."""
        segment, kind = _rows.check_segment(segment, kind)
        ids = list(customer_ids)
        with self._transaction() as data:
            members = {self._resolve(data, c) for c in ids}
            for key in [k for k in data["memberships"] if k[0] == segment]:
                del data["memberships"][key]
            for customer_id in members:
                data["memberships"][segment, customer_id] = {
                    "segment": segment,
                    "customer_id": customer_id,
                }
            data["segments"][segment] = {
                "segment": segment,
                "kind": kind,
                "updated_at": self._now(),
            }
        return len(members)

    def segments(self) -> pd.DataFrame:
        """Return each segment's name, kind and member count, sorted by name."""
        data = self._data
        counts = pd.Series([k[0] for k in data["memberships"]], dtype=object).value_counts()
        rows = [
            {"segment": name, "kind": row["kind"], "members": int(counts.get(name, 0))}
            for name, row in sorted(data["segments"].items())
        ]
        return _rows.frame_of(rows, _rows.SEGMENT_COLUMNS)

    def segment_members(self, segment: str) -> list[str]:
        """Return the sorted member ids of ``segment``."""
        segment, _ = _rows.check_segment(segment)
        return sorted(k[1] for k in self._data["memberships"] if k[0] == segment)

    # -- touches ------------------------------------------------------------------
    def plan_touches(self, touches: pd.DataFrame) -> int:
        """Store planned touches; return how many are new."""
        rows = _rows.touch_rows(touches)
        new = 0
        with self._transaction() as data:
            now = self._now()
            for row in rows:
                if row["idempotency_key"] in data["touches"]:
                    continue
                data["touches"][row["idempotency_key"]] = {
                    **row,
                    "customer_id": self._resolve(data, row["customer_id"]),
                    **_rows.NEW_TOUCH,
                    "created_at": now,
                    "updated_at": now,
                }
                new += 1
        return new

    def claim_due(
        self, *, as_of: datetime, worker: str, limit: int = 100, lease: timedelta = DEFAULT_LEASE
    ) -> pd.DataFrame:
        """Claim up to ``limit`` due touches for ``worker`` (see ``TouchStore``)."""
        as_of = require_aware(as_of, name="as_of")
        _rows.check_claim(worker, limit, lease)
        with self._transaction() as data:
            due = sorted(
                (row for row in data["touches"].values() if _rows.is_due(row, as_of)),
                key=lambda r: (r["send_at"], r["idempotency_key"]),
            )[:limit]
            now = self._now()
            claimed = []
            for row in due:
                updated = {
                    **row,
                    "status": "claimed",
                    "claimed_by": worker,
                    "claimed_until": as_of + lease,
                    "attempts": row["attempts"] + 1,
                    "updated_at": now,
                }
                data["touches"][row["idempotency_key"]] = updated
                claimed.append(updated)
        return _rows.frame_of(claimed, TOUCH_COLUMNS)

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
        """Record the result of a claimed touch; see :class:`~retention.storage.TouchStore`."""
        require_aware(as_of, name="as_of")
        _rows.check_finish(status, reason, send_at)
        with self._transaction() as data:
            row = data["touches"].get(idempotency_key)
            if row is None:
                msg = f"touch {idempotency_key!r} is not stored"
                raise NotFoundError(msg)
            if row["status"] != "claimed" or row["claimed_by"] != worker:
                return False
            data["touches"][idempotency_key] = {
                **row,
                **_rows.finished(status, reason, send_at, row["send_at"]),
                "updated_at": self._now(),
            }
        return True

    def touches(
        self, *, status: str | None = None, customer_ids: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """Return touches sorted by send time and key."""
        data = self._data
        rows = list(data["touches"].values())
        if status is not None:
            rows = [r for r in rows if r["status"] == _rows.check_status(status)]
        if customer_ids is not None:
            wanted = {self._resolve(data, c) for c in customer_ids}
            rows = [r for r in rows if r["customer_id"] in wanted]
        rows.sort(key=lambda r: (r["send_at"], r["idempotency_key"]))
        return _rows.frame_of(rows, TOUCH_COLUMNS)

    def record_event(
        self,
        idempotency_key: str,
        event: str,
        *,
        occurred_at: datetime,
        event_id: str | None = None,
    ) -> bool:
        """Record a provider outcome once; see :class:`~retention.storage.TouchStore`."""
        occurred_at = require_aware(occurred_at, name="occurred_at")
        _rows.check_event(event)
        key = event_id if event_id is not None else f"{idempotency_key}:{event}"
        with self._transaction() as data:
            touch = data["touches"].get(idempotency_key)
            if touch is None:
                msg = (
                    f"touch {idempotency_key!r} is not stored; "
                    "quarantine the event as unknown_touch"
                )
                raise NotFoundError(msg)
            if key in data["events"]:
                return False
            data["events"][key] = {
                "event_id": key,
                "idempotency_key": idempotency_key,
                "customer_id": touch["customer_id"],
                "event": event,
                "occurred_at": occurred_at,
                "recorded_at": self._now(),
            }
            if event in _rows.SUPPRESSING_EVENTS:
                self._suppress(data, "customer", touch["customer_id"], touch["channel"], event)
        return True

    def events(self, idempotency_key: str | None = None) -> pd.DataFrame:
        """Return outcome events sorted by time and id."""
        rows = [
            r
            for r in self._data["events"].values()
            if idempotency_key is None or r["idempotency_key"] == idempotency_key
        ]
        rows.sort(key=lambda r: (r["occurred_at"], r["event_id"]))
        return _rows.frame_of(rows, TOUCH_EVENT_COLUMNS)

    # -- lifecycle ----------------------------------------------------------------
    def schema_version(self) -> str | None:
        """Return the schema version (always the current one in memory)."""
        return SCHEMA_VERSION

    def migrate(self) -> str:
        """Nothing to migrate in memory; return the schema version."""
        return SCHEMA_VERSION

    def verify(self) -> None:
        """Check invariants; raise StorageError naming what is broken."""
        _rows.verify_rows(
            customers=self._data["customers"].keys(),
            aliases=self._data["aliases"].values(),
            purchases=self._data["purchases"].values(),
            touches=self._data["touches"].values(),
        )

    def close(self) -> None:
        """Forget the data; the store is unusable afterwards."""
        self._closed = True

    def snapshot(self) -> dict[str, list[Row]]:
        """Return a deep copy of every table's rows (for tests and debugging)."""
        return {table: copy.deepcopy(list(rows.values())) for table, rows in self._data.items()}
