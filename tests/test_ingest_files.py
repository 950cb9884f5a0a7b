"""retention.ingest on CSV and Parquet files: line numbers, encodings, separators (ING cases)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import retention as rt
from retention import _csv as csv_module
from retention._csv import CsvReader
from retention.exceptions import (
    IngestAbortedError,
    NaiveTimestampError,
    SchemaError,
    ValidationError,
)
from retention.testing import strategies as rst

if TYPE_CHECKING:
    from pathlib import Path

COLUMNS = {"customer_id_col": "customer", "datetime_col": "paid_at", "monetary_value_col": "total"}


def write(tmp_path: Path, content: bytes | str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def run(source, **options):
    options.setdefault("currency", "EUR")
    options.setdefault("max_bad_ratio", None)
    return rt.ingest(source, **COLUMNS, **options)


def reasons(result):
    return dict(zip(result.quarantine["line"], result.quarantine["reason"], strict=True))


ING_08_FIXTURE = (
    "customer,paid_at,total,note\n"  # line 1
    "c1,2024-01-05T10:00:00Z,10.00,plain\n"  # line 2
    "c2,2024-01-06T10:00:00Z,11.00,plain\n"  # line 3
    'c3,2024-01-07T10:00:00Z,12.00,"a note\n'  # line 4: a quoted field spanning
    'over two lines, with ""quotes"""\n'  # line 5
    "c4,2024-01-08T10:00:00Z,13.00,plain\n"  # line 6
    "c5,{bad},14.00,plain\n"  # line 7: the bad record
    "c6,2024-01-09T10:00:00Z,15.00,plain\n"  # line 8
)


@pytest.mark.parametrize("bad", ["2024-02-30", "13/13/2024", "yesterday", "05/01/2024", "2024-1-5"])
@pytest.mark.parametrize("chunksize", [None, 2])
def test_ing_08_unparseable_date_reports_file_physical_line_and_column(tmp_path, bad, chunksize):
    path = write(tmp_path, ING_08_FIXTURE.format(bad=bad))
    result = run(path, chunksize=chunksize)
    row = result.quarantine.iloc[0]
    assert (row["file"], row["line"], row["reason"], row["column"]) == (
        "orders.csv",
        7,
        "unparseable_timestamp",
        "paid_at",
    )
    assert row["raw_purchased_at"] == bad
    assert result.transactions["line"].tolist() == [2, 3, 4, 6, 8]
    assert result.report.source == "orders.csv"


def test_ing_08_one_explicit_date_format_and_no_day_first_guessing(tmp_path):
    content = "customer,paid_at,total\nc1,05.01.2024 10:00 +0100,1\nc2,2024-01-05T10:00Z,2\n"
    result = run(write(tmp_path, content), date_format="%d.%m.%Y %H:%M %z")
    assert result.transactions["purchased_at"].tolist() == [
        pd.Timestamp("2024-01-05 09:00", tz="UTC")
    ]
    assert reasons(result) == {3: "unparseable_timestamp"}
    with pytest.raises(NaiveTimestampError, match="date_format"):
        run(write(tmp_path, content), date_format="%d.%m.%Y %H:%M")


@pytest.mark.parametrize(
    ("amount", "decimal", "thousands", "minor"),
    [
        ('"1.234,56"', ",", ".", 123456),
        ('"1 234,50"', ",", " ", 123450),
        ('"1\u00a0234,50"', ",", " ", 123450),
        ('"1,234"', ".", ",", 123400),
        ("1234.5", ".", None, 123450),
        ('"12,50"', ",", None, 1250),
    ],
)
def test_ing_09_separators_in_a_csv(tmp_path, amount, decimal, thousands, minor):
    path = write(tmp_path, f"customer,paid_at,total\nc1,2024-01-05T10:00:00Z,{amount}\n")
    result = run(path, decimal=decimal, thousands=thousands)
    assert result.transactions["amount_minor"].tolist() == [minor]


@pytest.mark.parametrize(
    ("amount", "decimal", "thousands"),
    [('"1,234"', ".", None), ('"1.234,56"', ".", ","), ('"€12,50"', ",", None)],
)
def test_ing_09_amount_not_matching_the_format_in_a_csv(tmp_path, amount, decimal, thousands):
    path = write(tmp_path, f"customer,paid_at,total\nc1,2024-01-05T10:00:00Z,{amount}\n")
    assert reasons(run(path, decimal=decimal, thousands=thousands)) == {2: "unparseable_amount"}


def test_ing_09_semicolon_file_with_comma_decimals(tmp_path):
    content = (
        "customer;paid_at;total\nc1;2024-01-05T10:00:00Z;1.234,56\nc2;2024-01-05T10:00:00Z;€7,00\n"
    )
    result = run(
        write(tmp_path, content), sep=";", decimal=",", thousands=".", strip_currency_symbol=True
    )
    assert result.transactions["amount_minor"].tolist() == [123456, 700]


def test_ing_10_ids_read_through_the_csv_reader_stay_text(tmp_path):
    content = (
        "customer,paid_at,total,order\n"
        "00123,2024-01-05T10:00:00Z,1,007\n"
        ",2024-01-05T10:00:00Z,1,008\n"
        " 00124 ,2024-01-05T10:00:00Z,1,009\n"
        "00125,2024-01-05T10:00:00Z,1,\n"
        "00126,2024-01-05T10:00:00Z,1, 010\n"
    )
    path = write(tmp_path, content)
    result = run(path, order_id_col="order")
    assert result.transactions["customer_id"].tolist() == ["00123"]
    assert result.transactions["order_id"].tolist() == ["007"]
    assert reasons(result) == {
        3: "missing_customer_id",
        4: "malformed_customer_id",
        5: "missing_order_id",
        6: "malformed_order_id",
    }
    stripped = run(path, order_id_col="order", strip_ids=True)
    assert stripped.transactions["customer_id"].tolist() == ["00123", "00124", "00126"]
    assert stripped.transactions["order_id"].tolist() == ["007", "009", "010"]


def test_ing_13_missing_columns_in_a_csv_raise_before_reading_rows(tmp_path):
    path = write(tmp_path, "customer,when,total\nc1,2024-01-05T10:00:00Z,1\n")
    with pytest.raises(SchemaError, match=r"orders\.csv has no column 'paid_at' \(datetime_col\)"):
        run(path)


def test_ing_13_invalid_utf8_is_quarantined_with_its_line_never_replaced(tmp_path):
    content = (
        b"customer,paid_at,total\n"
        b"c1,2024-01-05T10:00:00Z,1\n"
        b"caf\xe9,2024-01-05T10:00:00Z,2\n"
        b"c3,2024-01-05T10:00:00Z,3\n"
        b"c4,2024-01-05T10:00:00Z,\xff4\n"
    )
    result = run(write(tmp_path, content), chunksize=2)
    assert reasons(result) == {3: "invalid_encoding", 5: "invalid_encoding"}
    assert result.transactions["customer_id"].tolist() == ["c1", "c3"]
    text = result.quarantine.astype(str).to_string() + result.transactions.astype(str).to_string()
    assert "\ufffd" not in text
    assert result.quarantine["raw_record"].tolist()[0] == "caf\\xe9,2024-01-05T10:00:00Z,2"
    assert result.report.rows_read == 4


def test_ing_13_byte_order_mark_is_accepted(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfcustomer,paid_at,total\r\nc1,2024-01-05T10:00:00Z,1\r\n")
    result = run(path)
    assert result.transactions["customer_id"].tolist() == ["c1"]
    assert result.transactions["line"].tolist() == [2]


def test_ing_13_wrong_field_count_and_unterminated_quote(tmp_path):
    content = (
        "customer,paid_at,total\n"
        "c1,2024-01-05T10:00:00Z,1,extra\n"
        "c2,2024-01-05T10:00:00Z\n"
        "\n"
        "c3,2024-01-05T10:00:00Z,3\n"
        'c4,2024-01-05T10:00:00Z,"4\n'
        "c5,2024-01-05T10:00:00Z,5\n"
    )
    result = run(write(tmp_path, content))
    assert reasons(result) == {
        2: "wrong_field_count",
        3: "wrong_field_count",
        6: "unterminated_quote",
    }
    assert result.transactions["line"].tolist() == [5]
    assert result.report.rows_read == 4  # blank line 4 is no record; line 7 is inside the quote


def test_ing_13_empty_file_and_header_only(tmp_path):
    with pytest.raises(SchemaError, match="empty"):
        run(write(tmp_path, ""))
    result = run(write(tmp_path, "customer,paid_at,total\n"))
    assert result.report.rows_read == 0
    assert list(result.transactions.columns)[:3] == ["customer_id", "order_id", "purchased_at"]


def test_scl_04_semicolon_csv_read_with_commas_aborts(tmp_path):
    rows = "".join(f"c{i};2024-01-05T10:00:00Z;1,50\n" for i in range(20))
    path = write(tmp_path, "customer,paid_at,total\n" + rows)
    with pytest.raises(IngestAbortedError, match=r"wrong_field_count: 5") as error:
        rt.ingest(path, **COLUMNS, currency="EUR", chunksize=5)
    assert "20 of 20" not in str(error.value)  # stopped after the first chunk
    assert "5 of 5" in str(error.value)


def test_scl_04_header_with_the_wrong_separator_is_a_schema_error(tmp_path):
    path = write(tmp_path, "customer;paid_at;total\nc1;2024-01-05T10:00:00Z;1\n")
    with pytest.raises(SchemaError, match="customer;paid_at;total"):
        run(path)


def test_ing_01_across_chunks_of_a_csv(tmp_path):
    content = "customer,paid_at,total,order\n" + "".join(
        f"c{i % 3},2024-01-05T10:00:00Z,{i % 3}.{'5' if i % 2 else '50'},O{i % 3}\n"
        for i in range(9)
    )
    result = run(write(tmp_path, content), order_id_col="order", chunksize=2)
    assert result.report.chunks == 5
    assert result.transactions["order_id"].tolist() == ["O0", "O1", "O2"]
    assert result.report.deduplicated == 6


def test_progress_bar_runs(tmp_path, capsys):
    path = write(tmp_path, "customer,paid_at,total\nc1,2024-01-05T10:00:00Z,1\n")
    result = run(path, progress=True)
    assert result.report.accepted == 1
    assert "rows" in capsys.readouterr().err


# -- the record scanner -----------------------------------------------------------------------

FIELD = st.text(alphabet=st.sampled_from(list('ab,"\n é')), max_size=6)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(FIELD, FIELD), min_size=0, max_size=12),
    block_size=st.integers(min_value=1, max_value=40),
    chunksize=st.integers(min_value=1, max_value=5),
    crlf=st.booleans(),
    quote_all=st.booleans(),
)
def test_scanner_finds_records_and_physical_lines_across_blocks(  # noqa: PLR0917 - hypothesis arguments
    tmp_path, rows, block_size, chunksize, crlf, quote_all
):
    newline = "\r\n" if crlf else "\n"
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        lineterminator=newline,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(["a", "b"])
    starts = []
    physical = 2
    for row in rows:
        before = buffer.tell()
        writer.writerow(row)
        starts.append(physical)
        physical += buffer.getvalue()[before:].count("\n")
    path = tmp_path / "scan.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    reader = CsvReader(path, sep=",", chunksize=chunksize, block_size=block_size)
    chunks = list(reader)
    got_lines = [int(x) for chunk in chunks for x in chunk.lines]
    assert got_lines == starts
    assert not any(chunk.rejected for chunk in chunks)
    values = [tuple(row) for chunk in chunks for row in chunk.frame.itertuples(index=False)]
    assert values == [(a, b) for a, b in rows]
    assert all(len(chunk.lines) <= chunksize for chunk in chunks)


# -- Parquet ----------------------------------------------------------------------------------


def test_parquet_is_read_in_row_groups_with_row_numbers(tmp_path):
    frame = pd.DataFrame(
        {
            "customer": ["00123", "c2", "c3"],
            "paid_at": pd.to_datetime(["2024-01-05 10:00"] * 3).tz_localize("UTC"),
            "total": [19.99, np.nan, 5.0],
        }
    )
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path, row_group_size=2)
    result = run(path, chunksize=2)
    assert result.transactions["customer_id"].tolist() == ["00123", "c3"]
    assert result.transactions["amount_minor"].tolist() == [1999, 500]
    assert reasons(result) == {2: "missing_amount"}
    assert result.report.chunks == 2


def test_ing_06_naive_parquet_timestamps_raise_before_reading(tmp_path):
    frame = pd.DataFrame(
        {"customer": ["c1"], "paid_at": pd.to_datetime(["2024-01-05 10:00"]), "total": [1.0]}
    )
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path)
    with pytest.raises(NaiveTimestampError, match="paid_at"):
        run(path)
    assert run(path, assume_tz="Europe/Berlin").transactions["purchased_at"].tolist() == [
        pd.Timestamp("2024-01-05 09:00", tz="UTC")
    ]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(source=rst.ingest_frames(), chunksize=st.integers(min_value=1, max_value=6))
def test_a_csv_gives_the_same_result_as_its_frame(tmp_path, source, chunksize):
    path = tmp_path / "same.csv"
    source.to_csv(path, index=False)
    options = {
        "currency": "EUR",
        "max_bad_ratio": None,
        "assume_tz": "Europe/Berlin",
        "as_of": datetime(2025, 1, 1, tzinfo=UTC),
    }
    from_frame = rt.ingest(source, **rst.INGEST_COLUMNS, **options)
    from_file = rt.ingest(path, **rst.INGEST_COLUMNS, chunksize=chunksize, **options)
    expected = from_frame.transactions.assign(line=from_frame.transactions["line"] + 1)
    pd.testing.assert_frame_equal(from_file.transactions, expected)
    report = from_file.report
    assert report.rows_read == report.accepted + report.deduplicated + report.quarantined
    assert reasons(from_file) == {line + 1: reason for line, reason in reasons(from_frame).items()}


def test_literal_quotes_inside_unquoted_fields_do_not_merge_records(tmp_path):
    content = (
        "customer,paid_at,total,note\n"
        'c1,2024-01-05T10:00:00Z,1,12" vinyl\n'
        'c2,2024-01-05T10:00:00Z,2,"said ""hi"", left"\n'
        'c3,2024-01-05T10:00:00Z,3,""\n'
        'c4,2024-01-05T10:00:00Z,4,"""quoted"""\n'
    )
    result = run(write(tmp_path, content))
    assert result.transactions["line"].tolist() == [2, 3, 4, 5]
    assert result.quarantine.empty


def test_a_quote_that_never_closes_stops_the_read(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_module, "MAX_RECORD_BYTES", 200)
    rows = "".join(f"c{i},2024-01-05T10:00:00Z,{i}\n" for i in range(50))
    path = write(tmp_path, 'customer,paid_at,total\nc0,2024-01-05T10:00:00Z,"1\n' + rows)
    with pytest.raises(IngestAbortedError, match="line 2"):
        rt.ingest(path, **COLUMNS, currency="EUR", max_bad_ratio=None)


def test_ing_13_other_ascii_compatible_encodings_are_declared(tmp_path):
    name = "\u0410\u043d\u043d\u0430"  # Anna in Cyrillic
    content = f'покупатель,paid_at,total\n{name},2024-01-05T10:00:00Z,"1 234,50"\n'.encode("cp1251")
    path = write(tmp_path, content)
    result = rt.ingest(
        path,
        customer_id_col="покупатель",
        datetime_col="paid_at",
        monetary_value_col="total",
        currency="RUB",
        decimal=",",
        thousands=" ",
        encoding="cp1251",
    )
    assert result.transactions["customer_id"].tolist() == [name]
    assert result.transactions["amount_minor"].tolist() == [123450]
    with pytest.raises(SchemaError, match="utf-8"):
        run(path)
    with pytest.raises(ValidationError, match="ASCII-compatible"):
        run(path, encoding="utf-16")
