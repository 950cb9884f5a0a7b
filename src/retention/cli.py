"""The ``retention`` command line: a thin shell over the library.

This is the only module that reads the clock or the environment. Each subcommand maps
its options onto one library call and writes CSV, Parquet or JSON by the output file's
extension. Errors the user can fix print one ``error:`` line and exit with status 1;
bad usage exits with status 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from retention import kpi, segmentation
from retention._version import __version__
from retention.datasets import load_cdnow_sample
from retention.exceptions import RetentionError, SchemaVersionError, StorageError
from retention.forecast import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    calibration_and_holdout,
    customer_lifetime_value,
    evaluate_holdout,
)
from retention.history import purchase_history
from retention.ingest import IngestReport, IngestResult, ingest
from retention.storage import SqlStore, Store, open_store, upgrade_database
from retention.storage.pushdown import rfm_summary_sql
from retention.summary import rfm_summary

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["main"]

_TABLE_SUFFIXES = (".csv", ".parquet", ".json")


class CommandError(Exception):
    """A problem with the command's files or options, reported as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = _build_parser()
    arguments = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = arguments.handler
    try:
        return handler(arguments)
    except (RetentionError, CommandError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - the CLI's job
        return 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retention",
        description="Turn a shop's purchase history into retention work.",
    )
    parser.add_argument("--version", action="version", version=f"retention {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for add in (
        _add_demo,
        _add_ingest,
        _add_summary,
        _add_segment,
        _add_forecast,
        _add_kpi,
        _add_db,
    ):
        add(commands)
    return parser


def _add_demo(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    demo = commands.add_parser(
        "demo", help="run the pipeline on the bundled CDNOW sample and write the results"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("retention-demo"), help="output folder (created)"
    )
    demo.set_defaults(handler=_run_demo)


def _add_ingest(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    ingest = commands.add_parser(
        "ingest", help="validate a transactions file: clean rows, quarantine and report"
    )
    ingest.add_argument("input", type=Path, help="transactions as CSV or Parquet")
    ingest.add_argument("--customer-id-col", default="customer_id")
    ingest.add_argument("--datetime-col", default="date")
    ingest.add_argument("--monetary-value-col", default="amount")
    ingest.add_argument("--order-id-col")
    ingest.add_argument("--currency-col")
    ingest.add_argument("--currency", help="the one ISO 4217 currency when there is no column")
    ingest.add_argument("--refund-of-col")
    ingest.add_argument("--source-col")
    ingest.add_argument("--category-col")
    ingest.add_argument("--assume-tz", help="IANA zone of timestamps without an offset")
    ingest.add_argument("--date-format", help="strptime format; ISO 8601 when omitted")
    ingest.add_argument("--decimal", default=".", help="decimal separator (default '.')")
    ingest.add_argument("--thousands", help="thousands separator, e.g. ' ' or '.'")
    ingest.add_argument("--sep", default=",", help="CSV field separator (default ',')")
    ingest.add_argument("--encoding", default="utf-8", help="CSV encoding (default utf-8)")
    ingest.add_argument(
        "--ambiguous",
        default="raise",
        choices=["raise", "earliest", "latest"],
        help="local times repeated when clocks fall back (with --assume-tz)",
    )
    ingest.add_argument(
        "--strip-currency-symbol", action="store_true", help="accept '€12,50' in EUR rows"
    )
    ingest.add_argument("--strip-ids", action="store_true", help="trim spaces around ids")
    ingest.add_argument(
        "--max-bad-ratio",
        type=float,
        default=0.5,
        help="abort when more than this share of rows is bad (default 0.5)",
    )
    ingest.add_argument(
        "--on-conflict", default="quarantine", choices=["quarantine", "raise", "update"]
    )
    ingest.add_argument("--chunksize", type=int, help="rows per chunk for large files")
    ingest.add_argument(
        "--as-of", help="rows later than this (+5 min) are future-dated; default: now"
    )
    ingest.add_argument(
        "--output", "-o", type=Path, help=_output_help() + " (not written with --store)"
    )
    ingest.add_argument(
        "--store",
        metavar="URL",
        help="commit each chunk to this store (sqlite:///crm.db, postgresql://..., "
        "duckdb:///crm.duckdb), resumably; migrates its schema",
    )
    ingest.add_argument(
        "--no-resume",
        action="store_true",
        help="with --store: read the file from its start instead of the last checkpoint",
    )
    ingest.add_argument(
        "--quarantine", type=Path, help="write rejected rows here (the store keeps them)"
    )
    ingest.add_argument("--report", type=Path, help="write the report here as JSON")
    ingest.add_argument("--progress", action="store_true", help="show a progress bar")
    ingest.set_defaults(handler=_run_ingest)


def _add_summary(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    summary = commands.add_parser(
        "summary", help="per-customer frequency, recency, T and monetary value"
    )
    _add_input_options(summary)
    summary.add_argument("--observation-period-end", help="end of observation (ISO date)")
    summary.add_argument("--time-unit", default="D", choices=["h", "D", "W", "M"])
    summary.add_argument("--time-scaler", type=float, default=1.0)
    summary.add_argument("--include-first-transaction", action="store_true")
    summary.add_argument("--output", "-o", type=Path, required=True, help=_output_help())
    summary.set_defaults(handler=_run_summary)


def _add_segment(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    segment = commands.add_parser(
        "segment", help="regularity groups, repurchase cycles and RFM segments per customer"
    )
    _add_input_options(segment)
    segment.add_argument("--as-of", help="date of the segmentation (ISO); default: now")
    segment.add_argument("--bins", type=int, default=3, choices=[3, 4, 5])
    segment.add_argument("--output", "-o", type=Path, required=True, help=_output_help())
    segment.set_defaults(handler=_run_segment)


def _add_forecast(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    forecast = commands.add_parser(
        "forecast", help="fit a BTYD model and Gamma-Gamma; write P(alive), purchases and CLV"
    )
    _add_input_options(forecast)
    forecast.add_argument(
        "--model", default="bgnbd", choices=sorted(_TRANSACTION_MODELS), help="purchase model"
    )
    forecast.add_argument("--observation-period-end", help="end of observation (ISO date)")
    forecast.add_argument("--time-unit", default="D", choices=["h", "D", "W", "M"])
    forecast.add_argument("--time-scaler", type=float, default=7.0, help="default: weeks")
    forecast.add_argument(
        "--horizon", type=float, default=52.0, help="periods ahead, in scaled units"
    )
    forecast.add_argument("--clv-months", type=int, default=12, help="CLV horizon in months")
    forecast.add_argument("--discount-rate", type=float, default=0.01, help="per month")
    forecast.add_argument("--output", "-o", type=Path, required=True, help=_output_help())
    forecast.add_argument("--params", type=Path, help="write the fitted models here as JSON")
    forecast.set_defaults(handler=_run_forecast)


def _add_kpi(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    kpis = commands.add_parser("kpi", help="the KPI table for a period and the previous one")
    _add_input_options(kpis)
    kpis.add_argument("--as-of", help="the report's date (ISO); default: now")
    kpis.add_argument("--period", default="M", choices=["D", "W", "M", "Q", "Y"])
    kpis.add_argument("--channel-col", help="break AOV down by this column")
    kpis.add_argument("--segment-col", help="break AOV and shares down by this column")
    kpis.add_argument("--source-col", help="break AOV down by this column")
    kpis.add_argument(
        "--churn-boundary", type=float, help="days without a purchase after which a customer churns"
    )
    kpis.add_argument("--repeat-within", type=float, help="days for the new-customer repeat share")
    kpis.add_argument("--cohorts", type=Path, help="also write the acquisition-cohort matrix")
    kpis.add_argument("--output", "-o", type=Path, required=True, help=_output_help())
    kpis.set_defaults(handler=_run_kpi)


def _add_db(commands: Any) -> None:  # noqa: ANN401 - argparse's private subparsers type
    database = commands.add_parser("db", help="manage a store's database schema")
    actions = database.add_subparsers(title="actions", required=True, metavar="ACTION")
    upgrade = actions.add_parser(
        "upgrade", help="create the schema or migrate it to this version of retention"
    )
    upgrade.add_argument("url", help="sqlite:///crm.db, postgresql://..., duckdb:///crm.duckdb")
    upgrade.add_argument("--schema", help="PostgreSQL schema (default: the search path)")
    upgrade.set_defaults(handler=_run_db_upgrade)


def _output_help() -> str:
    return "output file; the format follows its extension: " + ", ".join(_TABLE_SUFFIXES)


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="transactions as CSV or Parquet")
    parser.add_argument("--customer-id-col", default="customer_id")
    parser.add_argument("--datetime-col", default="date")
    parser.add_argument("--monetary-value-col", default="amount")
    parser.add_argument("--datetime-format", help="strptime format of the date column")
    parser.add_argument("--sep", default=",", help="CSV field separator (default ',')")


def _read_table(path: Path, *, sep: str, text_columns: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        msg = f"input file {str(path)!r} does not exist"
        raise CommandError(msg)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in {".csv", ".txt", ".tsv"}:
        # Identifiers stay text, so "00123" keeps its zeros.
        return pd.read_csv(path, sep=sep, dtype=dict.fromkeys(text_columns, str))
    msg = f"cannot read {str(path)!r}: use a .csv or .parquet file"
    raise CommandError(msg)


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        msg = f"cannot write {str(path)!r}: use one of {', '.join(_TABLE_SUFFIXES)}"
        raise CommandError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.copy()
    frame.attrs = {key: str(value) for key, value in frame.attrs.items()}  # JSON-safe metadata
    if suffix == ".csv":
        _neutralise_formulas(frame).to_csv(path)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        records = frame.reset_index()
        for column in records.columns:  # periods and other objects become their text
            if isinstance(records[column].dtype, pd.PeriodDtype) or records[column].dtype == object:
                records[column] = records[column].map(_text_or_none)
        records.to_json(path, orient="records", date_format="iso", indent=1)


def _as_of(text: str | None) -> datetime:
    """Return ``--as-of`` when given, else the current time (the CLI is the clock)."""
    if text is None:
        return datetime.now(tz=UTC)
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        msg = f"--as-of {text!r} is not a date; use ISO 8601 such as 2024-01-31T12:00Z"
        raise CommandError(msg) from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(UTC)
    return stamp.to_pydatetime()


_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix ``'`` to text cells a spreadsheet would run as a formula (OWASP CSV injection).

    Numeric columns stay numbers: a negative amount is not text and is left alone.
    """

    def neutralised(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
        if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
            return values
        text = pd.Series(values, dtype="string")
        risky = text.str.lstrip(" ").str.startswith(_FORMULA_TRIGGERS)
        flags = risky.fillna(value=False).to_numpy(dtype=bool)
        if not flags.any():
            return values
        return values.where(~flags, ("'" + text).to_numpy(dtype=object))

    result = frame.copy()
    for column in result.columns:
        result[column] = neutralised(result[column])
    result.index = neutralised(result.index)
    return result


def _text_or_none(value: object) -> str | None:
    return None if value is None or value is pd.NaT or value != value else str(value)  # noqa: PLR0124 - NaN test


def _run_ingest(arguments: argparse.Namespace) -> int:
    if arguments.output is None and arguments.store is None:
        msg = "retention ingest needs --output FILE or --store URL"
        raise CommandError(msg)
    store = None if arguments.store is None else open_store(arguments.store, migrate=True)
    try:
        result = _ingest_with(arguments, store)
    finally:
        if store is not None:
            store.close()
    if store is None:  # with --store the rows are in the store, not in the result
        _write_table(result.transactions.set_index("customer_id"), arguments.output)
        if arguments.quarantine is not None:
            _write_table(result.quarantine.set_index("line"), arguments.quarantine)
    if arguments.report is not None:
        arguments.report.parent.mkdir(parents=True, exist_ok=True)
        arguments.report.write_text(
            json.dumps(result.report.to_dict(), indent=1, default=str), encoding="utf-8"
        )
    _say(_describe_report(result.report))
    return 0


def _ingest_with(arguments: argparse.Namespace, store: Store | None) -> IngestResult:
    return ingest(
        arguments.input,
        customer_id_col=arguments.customer_id_col,
        datetime_col=arguments.datetime_col,
        monetary_value_col=arguments.monetary_value_col,
        order_id_col=arguments.order_id_col,
        currency_col=arguments.currency_col,
        currency=arguments.currency,
        refund_of_col=arguments.refund_of_col,
        source_col=arguments.source_col,
        category_col=arguments.category_col,
        assume_tz=arguments.assume_tz,
        date_format=arguments.date_format,
        decimal=arguments.decimal,
        thousands=arguments.thousands,
        sep=arguments.sep,
        encoding=arguments.encoding,
        ambiguous=arguments.ambiguous,
        strip_currency_symbol=arguments.strip_currency_symbol,
        strip_ids=arguments.strip_ids,
        max_bad_ratio=arguments.max_bad_ratio,
        on_conflict=arguments.on_conflict,
        chunksize=arguments.chunksize,
        as_of=_as_of(arguments.as_of),
        progress=arguments.progress,
        store=store,
        resume=not arguments.no_resume,
    )


def _describe_report(report: IngestReport) -> str:
    lines = [
        (
            f"rows read {report.rows_read:,}: accepted {report.accepted:,}, "
            f"deduplicated {report.deduplicated:,}, quarantined {report.quarantined:,}"
        ),
        (
            f"customers {report.customers:,}, refunds {report.refunds:,}, "
            f"zero-value orders {report.zero_value:,}"
        ),
    ]
    lines += [
        f"  quarantined {reason}: {count:,}"
        for reason, count in sorted(report.quarantined_by_reason.items())
    ]
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


def _run_summary(arguments: argparse.Namespace) -> int:
    transactions = _read_table(
        arguments.input, sep=arguments.sep, text_columns=[arguments.customer_id_col]
    )
    summary = rfm_summary(
        transactions,
        customer_id_col=arguments.customer_id_col,
        datetime_col=arguments.datetime_col,
        monetary_value_col=arguments.monetary_value_col,
        observation_period_end=arguments.observation_period_end,
        time_unit=arguments.time_unit,
        time_scaler=arguments.time_scaler,
        include_first_transaction=arguments.include_first_transaction,
        datetime_format=arguments.datetime_format,
    )
    _write_table(summary, arguments.output)
    print(f"wrote {len(summary)} customers to {arguments.output}")  # noqa: T201
    return 0


_TRANSACTION_MODELS: dict[str, type[BetaGeoModel | ParetoNBDModel | ModifiedBetaGeoModel]] = {
    "bgnbd": BetaGeoModel,
    "paretonbd": ParetoNBDModel,
    "mbgnbd": ModifiedBetaGeoModel,
}


def _read_transactions(arguments: argparse.Namespace) -> pd.DataFrame:
    transactions = _read_table(
        arguments.input, sep=arguments.sep, text_columns=[arguments.customer_id_col]
    )
    column = arguments.datetime_col
    if column in transactions and not pd.api.types.is_datetime64_any_dtype(transactions[column]):
        try:
            transactions[column] = pd.to_datetime(
                transactions[column], format=arguments.datetime_format or "ISO8601"
            )
        except (ValueError, TypeError):
            msg = (
                f"column {column!r} holds values that are not dates; pass --datetime-format "
                "or clean the file with 'retention ingest' first"
            )
            raise CommandError(msg) from None
    return transactions


def _as_of_like(text: str | None, column: pd.Series) -> pd.Timestamp:
    """``--as-of`` (or now) as a Timestamp that matches the column's naive/aware kind."""
    stamp = pd.Timestamp(_as_of(text))
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return stamp
    return stamp.tz_convert(UTC).tz_localize(None)


def _segment_table(
    transactions: pd.DataFrame,
    *,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str,
    as_of: pd.Timestamp,
    bins: int,
) -> pd.DataFrame:
    # one validation and one sort of the (customer, day) pairs for cycles and summary
    history = purchase_history(
        transactions,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
    )
    groups = segmentation.regularity(
        history, as_of=as_of, datetime_col=datetime_col, monetary_value_col=monetary_value_col
    )
    summary = rfm_summary(history, observation_period_end=as_of)
    rfm = segmentation.rfm_segments(summary, bins=bins)
    return groups.join(rfm, how="left")


def _run_segment(arguments: argparse.Namespace) -> int:
    transactions = _read_transactions(arguments)
    as_of = _as_of_like(arguments.as_of, transactions[arguments.datetime_col])
    table = _segment_table(
        transactions,
        customer_id_col=arguments.customer_id_col,
        datetime_col=arguments.datetime_col,
        monetary_value_col=arguments.monetary_value_col,
        as_of=as_of,
        bins=arguments.bins,
    )
    _write_table(table, arguments.output)
    _say(table["regularity"].value_counts().to_string())
    _say(table["segment"].value_counts().to_string())
    return 0


def _run_forecast(arguments: argparse.Namespace) -> int:
    transactions = _read_transactions(arguments)
    summary = rfm_summary(
        transactions,
        observation_period_end=arguments.observation_period_end,
        time_unit=arguments.time_unit,
        time_scaler=arguments.time_scaler,
        customer_id_col=arguments.customer_id_col,
        datetime_col=arguments.datetime_col,
        monetary_value_col=arguments.monetary_value_col,
    )
    model = _TRANSACTION_MODELS[arguments.model]().fit(summary)
    spend = GammaGammaModel(nonpositive_spend="exclude").fit(summary[summary["frequency"] > 0])
    predictions = pd.DataFrame(
        {
            "probability_alive": model.probability_alive(summary),
            "expected_purchases": model.expected_purchases(arguments.horizon, summary),
            "expected_spend": spend.expected_spend(summary),
            "clv": customer_lifetime_value(
                model,
                spend,
                summary,
                horizon=arguments.clv_months,
                time_unit="M",
                discount_rate=arguments.discount_rate,
            ),
        }
    )
    _write_table(summary.join(predictions), arguments.output)
    if arguments.params is not None:
        models = {"transactions": model.to_dict(), "spend": spend.to_dict()}
        arguments.params.write_text(json.dumps(models, indent=1, default=str), encoding="utf-8")
    _say(f"{type(model).__name__}: {_format_params(model.params_)}")
    _say(f"GammaGammaModel: {_format_params(spend.params_)}")
    return 0


def _format_params(params: Mapping[str, float]) -> str:
    return ", ".join(f"{name}={value:.4g}" for name, value in params.items())


def _run_kpi(arguments: argparse.Namespace) -> int:
    transactions = _read_transactions(arguments)
    as_of = _as_of_like(arguments.as_of, transactions[arguments.datetime_col])
    table = kpi.report(
        transactions,
        as_of=as_of,
        period=arguments.period,
        channel_col=arguments.channel_col,
        segment_col=arguments.segment_col,
        source_col=arguments.source_col,
        churn_boundary=arguments.churn_boundary,
        repeat_within_days=arguments.repeat_within,
        customer_id_col=arguments.customer_id_col,
        datetime_col=arguments.datetime_col,
        monetary_value_col=arguments.monetary_value_col,
    )
    _write_table(table.set_index("metric"), arguments.output)
    if arguments.cohorts is not None:
        cohorts = kpi.cohort_matrix(
            transactions,
            as_of=as_of,
            period=arguments.period,
            customer_id_col=arguments.customer_id_col,
            datetime_col=arguments.datetime_col,
            monetary_value_col=arguments.monetary_value_col,
        )
        _write_table(cohorts, arguments.cohorts)
    shown = table[["metric", "dimension", "group", "value", "previous_value", "change"]]
    _say(shown.round(3).to_string(index=False))
    return 0


def _run_db_upgrade(arguments: argparse.Namespace) -> int:
    shown = sa.make_url(arguments.url).render_as_string(hide_password=True)
    try:
        upgrade = upgrade_database(arguments.url, schema=arguments.schema)
    except (SchemaVersionError, StorageError) as error:
        print(f"error: {shown}: {error}", file=sys.stderr)  # noqa: T201 - the CLI's job
        return 2
    if upgrade.found is None:
        _say(f"{shown}: created schema {upgrade.current}")
    elif upgrade.changed:
        _say(f"{shown}: upgraded schema {upgrade.found} -> {upgrade.current}")
    else:
        _say(f"{shown}: already at schema {upgrade.current}")
    return 0


def _run_demo(arguments: argparse.Namespace) -> int:
    out: Path = arguments.out
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(tz=UTC)
    context: dict[str, Any] = {"out": out, "transactions": load_cdnow_sample()}
    _say(f"retention {__version__} demo on the bundled CDNOW sample -> {out}/")
    for section in _DEMO_SECTIONS:
        section(context)
    elapsed = (datetime.now(tz=UTC) - started).total_seconds()
    _say(f"\ndone in {elapsed:.1f} s; results are in {out}/")
    return 0


def _say(text: str) -> None:
    print(text)  # noqa: T201 - the CLI's job


_DEMO_AS_OF = pd.Timestamp("1998-07-01", tz="UTC")  # the day after the data ends


def _demo_data(context: dict[str, Any]) -> None:
    transactions: pd.DataFrame = context["transactions"]
    result = ingest(
        transactions,
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="amount",
        order_id_col="order_id",
        assume_tz="UTC",
        currency="USD",
        as_of=_DEMO_AS_OF.to_pydatetime(),
    )
    context["ingested"] = result
    purchases = result.transactions
    _say(
        "\n== Ingest (validated, UTC, exact cents) -> transactions.parquet\n"
        + _describe_report(result.report)
        + f"\nperiod {purchases['purchased_at'].min():%Y-%m-%d} to "
        f"{purchases['purchased_at'].max():%Y-%m-%d}"
    )
    _write_table(purchases.set_index("customer_id"), context["out"] / "transactions.parquet")


def _demo_summary(context: dict[str, Any]) -> None:
    full = rfm_summary(context["ingested"], observation_period_end=_DEMO_AS_OF)
    context["summary"] = full
    _write_table(full, context["out"] / "summary.csv")
    repeat = full["frequency"] > 0
    _say(
        "\n== Customer summary (daily periods, to 1998-07-01) -> summary.csv\n"
        f"repeat buyers: {int(repeat.sum()):,} of {len(full):,} ({repeat.mean():.1%})\n"
        f"mean repeat purchases {full['frequency'].mean():.2f}, "
        f"mean repeat spend ${full.loc[repeat, 'monetary_value'].mean():.2f}"
    )


def _demo_store(context: dict[str, Any]) -> None:
    path = context["out"] / "crm.db"
    path.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{path}", migrate=True)
    try:
        written = store.add_purchases(context["ingested"].transactions)
        again = store.add_purchases(context["ingested"].transactions)
        assert isinstance(store, SqlStore)  # noqa: S101 - open_store of a sqlite URL
        in_database = rfm_summary_sql(
            store.engine,
            store.purchases_table,
            datetime_col="purchased_at",
            monetary_value_col="amount_minor",
            monetary_scale=100,
            observation_period_end=_DEMO_AS_OF,
        )
    finally:
        store.close()
    same = in_database.index.equals(context["summary"].index) and np.allclose(
        in_database.to_numpy(), context["summary"].to_numpy(), rtol=1e-9
    )
    _say(
        "\n== Store (SQLite) -> crm.db\n"
        f"stored {written.stored:,} purchases; loading them again stored {again.stored:,} "
        f"and deduplicated {again.deduplicated:,}\n"
        "summary computed inside the database "
        + ("equals the in-memory one" if same else "DIFFERS from the in-memory one")
    )


def _demo_segments(context: dict[str, Any]) -> None:
    purchases: pd.DataFrame = context["ingested"].transactions
    table = _segment_table(
        purchases,
        customer_id_col="customer_id",
        datetime_col="purchased_at",
        monetary_value_col="amount",
        as_of=_DEMO_AS_OF,
        bins=3,
    )
    _write_table(table, context["out"] / "segments.csv")
    groups = table["regularity"].value_counts()
    lapsed = int(table["lapsed"].sum())
    _say(
        "\n== Segments -> segments.csv\nregularity: "
        + ", ".join(f"{name} {count:,}" for name, count in groups.items())
        + f"\nlapsed (time since last purchase > 2 x cycle): {lapsed:,}"
    )
    revenue = purchases.groupby("customer_id")["amount"].sum()
    shares = segmentation.segment_shares(table["segment"], revenue=revenue)
    shares = shares[shares["customers"] > 0]
    _say("RFM 3x3x3 groups:")
    _say(shares.round(3).to_string())


def _demo_forecast(context: dict[str, Any]) -> None:
    transactions: pd.DataFrame = context["transactions"]
    calibration = rfm_summary(
        transactions, observation_period_end="1997-09-30", time_unit="D", time_scaler=7
    )
    model = BetaGeoModel().fit(calibration)
    pareto = ParetoNBDModel().fit(calibration)
    spend = GammaGammaModel(nonpositive_spend="exclude").fit(
        calibration[calibration["frequency"] > 0]
    )
    holdout = calibration_and_holdout(
        transactions,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="D",
        time_scaler=7,
    )
    evaluation = evaluate_holdout(model, holdout)
    _say(
        "\n== Forecast (39-week calibration, weekly units; published fits in brackets)\n"
        f"BG/NBD     {_format_params(model.params_)}, LL {model.log_likelihood_:.1f} "
        "[0.243, 4.414, 0.793, 2.426; -9582.4]\n"
        f"Pareto/NBD {_format_params(pareto.params_)} [0.553, 10.578, 0.606, 11.669]\n"
        f"Gamma-Gamma {_format_params(spend.params_)} [6.25, 3.74, 15.44]\n"
        f"holdout weeks 40-78: {evaluation.total_actual:,.0f} repeat purchases, "
        f"BG/NBD expected {evaluation.total_expected:,.0f}"
    )
    current = rfm_summary(
        transactions, observation_period_end="1998-06-30", time_unit="D", time_scaler=7
    )
    model = BetaGeoModel().fit(current)
    spend = GammaGammaModel(nonpositive_spend="exclude").fit(current[current["frequency"] > 0])
    predictions = pd.DataFrame(
        {
            "probability_alive": model.probability_alive(current),
            "expected_purchases_52w": model.expected_purchases(52, current),
            "clv_12m": customer_lifetime_value(
                model, spend, current, horizon=12, time_unit="M", discount_rate=0.01
            ),
        }
    )
    _write_table(predictions, context["out"] / "forecast.csv")
    _say(
        "-> forecast.csv (fitted to 1998-06-30): "
        f"mean P(alive) {predictions['probability_alive'].mean():.2f}, "
        f"expected purchases next 52 weeks {predictions['expected_purchases_52w'].sum():,.0f}, "
        f"12-month CLV ${predictions['clv_12m'].sum():,.0f} "
        f"(top customer ${predictions['clv_12m'].max():,.0f})"
    )


def _demo_kpi(context: dict[str, Any]) -> None:
    purchases: pd.DataFrame = context["ingested"].transactions
    as_of = pd.Timestamp("1998-06-30 23:59", tz="UTC")
    table = kpi.report(
        purchases,
        as_of=as_of,
        period="Q",
        churn_boundary=180,
        repeat_within_days=90,
        datetime_col="purchased_at",
        monetary_value_col="amount",
    )
    cohorts = kpi.cohort_matrix(
        purchases, as_of=as_of, period="Q", datetime_col="purchased_at", monetary_value_col="amount"
    )
    _write_table(table.set_index("metric"), context["out"] / "kpi.csv")
    _write_table(cohorts, context["out"] / "cohorts.csv")
    shown = table[(table["dimension"] == "all")][["metric", "value", "previous_value"]]
    _say("\n== KPIs, 1998 Q2 against Q1 -> kpi.csv, cohorts.csv")
    _say(shown.round(3).to_string(index=False))
    _say("active share by acquisition cohort and quarters since the first purchase:")
    _say(kpi.cohort_table(cohorts, value="active_share").round(3).to_string())


_DEMO_SECTIONS: tuple[Callable[[dict[str, Any]], None], ...] = (
    _demo_data,
    _demo_summary,
    _demo_store,
    _demo_segments,
    _demo_forecast,
    _demo_kpi,
)
