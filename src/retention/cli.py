"""The ``retention`` command line: a thin shell over the library.

This is the only module that reads the clock or the environment. Each subcommand maps
its options onto one library call and writes CSV, Parquet or JSON by the output file's
extension. Errors the user can fix print one ``error:`` line and exit with status 1;
bad usage exits with status 2 (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from retention._version import __version__
from retention.datasets import load_cdnow_sample
from retention.exceptions import RetentionError
from retention.summary import rfm_summary

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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

    demo = commands.add_parser(
        "demo", help="run the pipeline on the bundled CDNOW sample and write the results"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("retention-demo"), help="output folder (created)"
    )
    demo.set_defaults(handler=_run_demo)

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
    return parser


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
        frame.to_csv(path)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.reset_index().to_json(path, orient="records", date_format="iso", indent=1)


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


def _demo_data(context: dict[str, Any]) -> None:
    transactions: pd.DataFrame = context["transactions"]
    _say(
        f"\n== Data\n{len(transactions):,} purchases by "
        f"{transactions['customer_id'].nunique():,} customers, "
        f"{transactions['date'].min():%Y-%m-%d} to {transactions['date'].max():%Y-%m-%d}"
    )


def _demo_summary(context: dict[str, Any]) -> None:
    transactions: pd.DataFrame = context["transactions"]
    calibration = rfm_summary(
        transactions, observation_period_end="1997-09-30", time_unit="D", time_scaler=7
    )
    full = rfm_summary(transactions, observation_period_end="1998-06-30")
    context["calibration_summary"], context["summary"] = calibration, full
    _write_table(full, context["out"] / "summary.csv")
    repeat = full["frequency"] > 0
    _say(
        "\n== Customer summary (daily periods, to 1998-06-30) -> summary.csv\n"
        f"repeat buyers: {int(repeat.sum()):,} of {len(full):,} ({repeat.mean():.1%})\n"
        f"mean repeat purchases {full['frequency'].mean():.2f}, "
        f"mean repeat spend ${full.loc[repeat, 'monetary_value'].mean():.2f}"
    )
    _say(full.describe().loc[["mean", "50%", "max"]].round(2).to_string())


_DEMO_SECTIONS: tuple[Callable[[dict[str, Any]], None], ...] = (_demo_data, _demo_summary)
