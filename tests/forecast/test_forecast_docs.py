"""The forecast docstring examples run."""

from __future__ import annotations

import doctest

import pytest

from retention.forecast import bgbb, bgnbd, gammagamma


@pytest.mark.parametrize("module", [bgnbd, bgbb, gammagamma])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
