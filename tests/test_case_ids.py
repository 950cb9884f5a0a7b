"""Every RELIABILITY.md case id of a built area has at least one test naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
RELIABILITY = TESTS.parents[1] / "shared" / "RELIABILITY.md"


def _case_ids(text: str) -> list[str]:
    return sorted(set(re.findall(r"^\| ([A-Z]{3}-\d{2}) \|", text, flags=re.MULTILINE)))


def _built_areas() -> list[str]:
    lines = (TESTS / "case_areas.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _mentioned_ids() -> set[str]:
    found: set[str] = set()
    for path in TESTS.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found.update(
            f"{area.upper()}-{number}"
            for area, number in re.findall(r"(?<![a-zA-Z])([a-zA-Z]{3})[-_](\d{2})", text)
        )
    return found


def test_every_case_of_a_built_area_has_a_test(shared_data: Path) -> None:
    if not RELIABILITY.exists():
        pytest.fail(f"{RELIABILITY} is missing")
    areas = _built_areas()
    wanted = [
        case
        for case in _case_ids(RELIABILITY.read_text(encoding="utf-8"))
        if case.split("-")[0] in areas
    ]
    mentioned = _mentioned_ids()
    untested = [case for case in wanted if case not in mentioned]
    assert not untested, f"RELIABILITY cases without a test: {untested}"
