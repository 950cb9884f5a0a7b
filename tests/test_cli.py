from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from retention import load_cdnow_sample
from retention.cli import main
from retention.storage import open_store


def test_demo_runs_the_whole_pipeline_and_writes_every_table(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "demo" / "summary.csv", dtype={"customer_id": str})
    assert len(summary) == 2357
    assert "repeat buyers: 1,139 of 2,357" in out
    assert "rows read 6,919: accepted 6,919" in out
    assert "LL -9582.4" in out  # the published BG/NBD fit
    assert "summary computed inside the database equals the in-memory one" in out
    for name in ("segments.csv", "forecast.csv", "kpi.csv", "cohorts.csv", "transactions.parquet"):
        assert (tmp_path / "demo" / name).exists(), name
    segments = pd.read_csv(tmp_path / "demo" / "segments.csv")
    assert segments["regularity"].notna().all()
    assert segments["segment"].notna().all()


@pytest.fixture
def cdnow_csv(tmp_path):
    path = tmp_path / "cdnow.csv"
    load_cdnow_sample().to_csv(path, index=False)
    return path


def test_segment_forecast_and_kpi_commands(cdnow_csv, tmp_path, capsys):
    common = [str(cdnow_csv), "--as-of", "1998-07-01"]
    assert main(["segment", *common, "-o", str(tmp_path / "seg.parquet")]) == 0
    segments = pd.read_parquet(tmp_path / "seg.parquet")
    assert len(segments) == 2357
    assert set(segments["regularity"]) == {"REGULAR", "PERIODIC", "ERRATIC", "ONE_TIME"}
    status = main(
        [
            "forecast",
            str(cdnow_csv),
            "--observation-period-end",
            "1997-09-30",
            "-o",
            str(tmp_path / "forecast.csv"),
            "--params",
            str(tmp_path / "params.json"),
        ]
    )
    assert status == 0
    assert "BetaGeoModel: r=0.2426, alpha=4.414, a=0.7929, b=2.426" in capsys.readouterr().out
    forecast = pd.read_csv(tmp_path / "forecast.csv")
    assert forecast["probability_alive"].between(0, 1).all()
    assert (forecast["clv"] >= 0).all()
    assert main(["kpi", *common, "--period", "Q", "-o", str(tmp_path / "kpi.json")]) == 0
    assert "active_customers" in (tmp_path / "kpi.json").read_text()


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


def test_ingest_command_writes_clean_rows_quarantine_and_report(tmp_path, capsys):
    source = tmp_path / "tx.csv"
    source.write_text(
        "client,order,paid_at,total\n"
        "00123,A-1,2024-01-01T10:00:00Z,10.50\n"
        "00123,A-2,2024-01-03T10:00:00Z,\n"
        "00124,A-3,2024-01-04T10:00:00Z,5\n"
    )
    status = main(
        [
            "ingest",
            str(source),
            "--customer-id-col",
            "client",
            "--order-id-col",
            "order",
            "--datetime-col",
            "paid_at",
            "--monetary-value-col",
            "total",
            "--currency",
            "EUR",
            "--as-of",
            "2024-02-01",
            "-o",
            str(tmp_path / "clean.parquet"),
            "--quarantine",
            str(tmp_path / "bad.csv"),
            "--report",
            str(tmp_path / "report.json"),
        ]
    )
    assert status == 0
    clean = pd.read_parquet(tmp_path / "clean.parquet")
    assert clean["amount_minor"].tolist() == [1050, 500]
    bad = pd.read_csv(tmp_path / "bad.csv")
    assert bad["line"].tolist() == [3]
    assert bad["reason"].tolist() == ["missing_amount"]
    out = capsys.readouterr().out
    assert "quarantined missing_amount: 1" in out
    assert '"rows_read": 3' in (tmp_path / "report.json").read_text()


def test_db_upgrade_creates_then_reports_the_schema(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert main(["db", "upgrade", url]) == 0
    assert "created schema" in capsys.readouterr().out
    assert main(["db", "upgrade", url]) == 0
    assert "already at schema" in capsys.readouterr().out


def test_db_upgrade_hides_the_password_in_errors(capsys):
    status = main(["db", "upgrade", "postgresql://user:s3ntinel@127.0.0.1:1/nowhere"])
    assert status == 2
    err = capsys.readouterr().err
    assert "s3ntinel" not in err
    assert err.startswith("error: postgresql://user:***@127.0.0.1:1/nowhere")


def test_scl_01_ingest_command_commits_to_a_store_and_resumes(tmp_path, capsys):
    source = tmp_path / "tx.csv"
    source.write_text(
        "client,order,paid_at,total\n"
        "00123,A-1,2024-01-01T10:00:00Z,10.50\n"
        "00123,A-2,2024-01-03T10:00:00Z,\n"
        "00124,A-3,2024-01-04T10:00:00Z,5\n"
    )
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    options = ["--customer-id-col", "client", "--order-id-col", "order", "--datetime-col"]
    options += ["paid_at", "--monetary-value-col", "total", "--currency", "EUR"]
    options += ["--max-bad-ratio", "1", "--chunksize", "2", "--store", url]
    assert main(["ingest", str(source), *options]) == 0
    assert "rows read 3: accepted 2, deduplicated 0, quarantined 1" in capsys.readouterr().out
    assert main(["ingest", str(source), *options, "--no-resume"]) == 0
    assert "rows read 3: accepted 0, deduplicated 2, quarantined 1" in capsys.readouterr().out

    store = open_store(url)
    try:
        assert store.purchases()["order_id"].tolist() == ["A-1", "A-3"]
        assert store.quarantined()["reason"].tolist() == ["missing_amount"]
    finally:
        store.close()
    assert main(["ingest", str(source), "--customer-id-col", "client"]) == 1
    assert "--output FILE or --store URL" in capsys.readouterr().err


def test_sec_03_csv_exports_neutralise_formulas_but_keep_numbers(tmp_path):
    import csv  # noqa: PLC0415

    source = tmp_path / "tx.csv"
    source.write_text(
        "customer_id,date,amount\n"
        '"=HYPERLINK(""http://x"")",2024-01-01,10\n'
        '"=HYPERLINK(""http://x"")",2024-01-05,-0\n'
        "  @SUM(A1),2024-01-02,5\n"
        "plain,2024-01-03,7\n"
    )
    out = tmp_path / "summary.csv"
    assert main(["summary", str(source), "-o", str(out)]) == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    ids = [row["customer_id"] for row in rows]
    assert "'  @SUM(A1)" in ids
    assert '\'=HYPERLINK("http://x")' in ids
    assert "plain" in ids
    for row in rows:
        assert not row["customer_id"].lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))
        float(row["recency"])  # numbers stay numbers
