"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``, ``docs``.

The sessions run in the environment nox was started from (the project's venv, set up
by the README's quick start or by ``.ci/run``), so a test run installs nothing.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "none"


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run the whole suite on every backend; PostgreSQL via RETENTION_TEST_POSTGRES_URL."""
    args = session.posargs or []
    if os.environ.get("CI"):
        # CI runs the property tests with fewer examples and never skips a backend.
        session.env["HYPOTHESIS_PROFILE"] = "ci"
    session.run("python", "-m", "pytest", *args)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.run("mypy", "--strict", "src/retention")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Run the peer benchmarks (outside CI; they take minutes)."""
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            session.run("python", f"benchmarks/{script}", *session.posargs)
