"""The storage contract on MemoryStore.

``StoreContract`` (retention.testing.contracts) covers STO-01, STO-02, STO-03, STO-04,
STO-05, STO-06, TIM-01, TIM-02, SEC-01, SEC-02, SEC-05, ING-01, ING-02 and ING-12.
"""

import pytest

from retention.testing.contracts import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"
