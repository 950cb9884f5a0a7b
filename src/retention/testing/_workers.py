"""Functions spawned as separate processes by the contract suite's race tests.

They live apart from :mod:`retention.testing.contracts` so a spawned process imports only
``retention.storage``, not pytest and hypothesis.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from retention.exceptions import RetentionError
from retention.storage import open_store

__all__ = ["claim_worker", "hold_claim_worker", "hold_open_worker", "second_writer"]

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def claim_worker(  # noqa: PLR0917 - a multiprocessing target takes positional arguments
    url: str,
    options: dict[str, Any],
    worker: str,
    rounds: int,
    barrier: Any,  # noqa: ANN401 - multiprocessing proxies
    results: Any,  # noqa: ANN401
) -> None:
    """Spawned race worker: per round, wait at the barrier, then claim until nothing is due."""
    store = open_store(url, **options)
    try:
        for _ in range(rounds):
            barrier.wait()
            claimed: list[str] = []
            while True:
                batch = store.claim_due(as_of=T0 + timedelta(hours=1), worker=worker, limit=7)
                if batch.empty:
                    break
                claimed += batch["idempotency_key"].tolist()
            results.put((worker, claimed))
    finally:
        store.close()


def hold_claim_worker(url: str, options: dict[str, Any], ready: Any, release: Any) -> None:  # noqa: ANN401
    """Spawned worker that claims one touch, reports it, then waits to be killed."""
    store = open_store(url, **options)
    claimed = store.claim_due(as_of=T0, worker="doomed", limit=1)
    ready.put(claimed["idempotency_key"].tolist())
    release.wait(60)


def hold_open_worker(url: str, options: dict[str, Any], ready: Any, release: Any) -> None:  # noqa: ANN401
    """Spawned worker that keeps a store open for writing until released."""
    store = open_store(url, **options)
    store.suppress_customer("holder", reason="manual")
    ready.put("open")
    release.wait(60)
    store.close()


def second_writer(url: str, options: dict[str, Any], ready: Any) -> None:  # noqa: ANN401
    """Spawned: try to open a store another process writes; report what happened."""
    try:
        store = open_store(url, **options)
    except RetentionError as error:
        ready.put((type(error).__name__, str(error), type(error.__cause__).__name__))
        return
    except Exception as error:  # noqa: BLE001 - a raw driver error is the failure we look for
        ready.put((type(error).__name__, "raw driver error escaped", "None"))
        return
    store.close()
    ready.put(("opened", "a second writer process could open the store", "None"))
