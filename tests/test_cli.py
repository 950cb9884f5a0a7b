from __future__ import annotations

import subprocess
import sys

import pandas as pd

from retention.cli import main


def test_demo_runs_and_writes_the_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    summary = pd.read_csv(tmp_path / "demo" / "summary.csv", dtype={"customer_id": str})
    assert len(summary) == 2357
    assert "repeat buyers: 1,139 of 2,357" in capsys.readouterr().out


def test_summary_command_writes_each_format(tmp_path):
    source = tmp_path / "tx.csv"
    source.write_text("client,paid_at,total\n00123,2024-01-01,10\n00123,2024-01-03,5\n")
    for suffix in (".csv", ".parquet", ".json"):
        out = tmp_path / f"summary{suffix}"
        status = main(
            [
                "summary",
                str(source),
                "--customer-id-col",
                "client",
                "--datetime-col",
                "paid_at",
                "--monetary-value-col",
                "total",
                "-o",
                str(out),
            ]
        )
        assert status == 0
        assert out.exists()
    frame = pd.read_csv(tmp_path / "summary.csv", dtype={"customer_id": str})
    assert frame["customer_id"].tolist() == ["00123"]
    assert frame["frequency"].tolist() == [1.0]


def test_bad_input_gives_one_error_line_and_status_1(tmp_path, capsys):
    source = tmp_path / "tx.csv"
    source.write_text("client,paid_at\n1,2024-01-01\n")
    status = main(["summary", str(source), "-o", str(tmp_path / "s.csv")])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("error: transactions has no column 'customer_id'")
    assert main(["summary", str(tmp_path / "missing.csv"), "-o", "x.csv"]) == 1


def test_python_dash_m_and_console_script_work():
    out = subprocess.run(
        [sys.executable, "-m", "retention", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("retention ")
