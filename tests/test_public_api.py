import inspect
import subprocess
import sys

import retention


def test_all_lists_exactly_the_public_names_sorted():
    public = sorted(
        name
        for name, value in vars(retention).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    )
    assert retention.__all__ == sorted(retention.__all__)
    assert set(retention.__all__) == {*public, "__version__"}


def test_importing_retention_does_not_import_test_tools_or_drivers():
    code = (
        "import sys, retention; "
        "bad = [m for m in ('pytest', 'hypothesis', 'psycopg', 'duckdb', 'matplotlib') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_is_a_string():
    assert isinstance(retention.__version__, str)
