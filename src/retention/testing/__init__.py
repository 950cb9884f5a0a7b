"""Test helpers shipped with ``retention``: the store contract suite and fakes.

``retention.testing.contracts.StoreContract`` is the suite every store passes; it imports
pytest and hypothesis, so import it only from tests.
"""
