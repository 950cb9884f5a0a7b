import pytest

from retention.testing.contracts import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"
