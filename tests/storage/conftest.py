"""Storage tests: let pytest rewrite the asserts of the shipped contract suite."""

import pytest

pytest.register_assert_rewrite("retention.testing.contracts")
