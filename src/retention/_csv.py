"""Chunked CSV reading with physical line numbers and strict decoding (UTF-8 by default).

The file is scanned in blocks of bytes with numpy: a newline ends a record only when
an even number of quote characters precedes it (RFC 4180 quoting, where ``""`` inside a
quoted field counts twice), so a record's first physical line is known even when a
quoted field spans several lines.  Records are grouped into chunks of ``chunksize``
records; each chunk is checked for undecodable bytes and for its field count, and the good
records are parsed by pandas' C parser with every column read as text (so ``00123``
stays ``00123``).  Memory is bounded by the block and chunk sizes, not the file size.

Blank lines are not records (as in pandas and the ``csv`` module) and are not counted.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from typing import TYPE_CHECKING

import attrs
import numpy as np
import pandas as pd

from retention.exceptions import IngestAbortedError, SchemaError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from numpy.typing import NDArray

__all__ = ["CsvReader", "RawChunk", "RejectedRecord"]

_BOM = b"\xef\xbb\xbf"
_NEWLINE = 10
_CARRIAGE_RETURN = 13
_QUOTE = 34
BLOCK_SIZE = 1 << 23
#: A record longer than this means a quote that never closes; the read stops.
MAX_RECORD_BYTES = 1 << 26


@attrs.frozen
class RejectedRecord:
    """A record that could not be split into fields (bad bytes, wrong field count)."""

    line: int
    reason: str
    detail: str
    raw_record: str


@attrs.frozen(eq=False)
class RawChunk:
    """Text fields of a run of records, with the physical line each record starts on."""

    frame: pd.DataFrame
    lines: NDArray[np.int64]
    rejected: tuple[RejectedRecord, ...] = ()
    #: Byte offset just past the chunk's last record (where the next chunk starts).
    end_offset: int = -1
    #: Physical line on which the byte after the chunk's last record lies.
    next_line: int = 0


@attrs.frozen(eq=False)
class _Records:
    """Complete records found in one buffer: byte ranges, start lines, field counts."""

    buffer: bytes
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]
    lines: NDArray[np.int64]
    fields: NDArray[np.int64]
    blank: NDArray[np.bool_]
    unterminated: bool
    #: File offset of ``buffer[0]``.
    base: int = 0


def _significant_quotes(data: NDArray[np.uint8], separator: int) -> NDArray[np.intp]:
    """Positions of the quote runs that open or close a quoted field.

    A run of consecutive quote characters of even length is neutral (escaped quotes
    ``""`` inside a field, or an empty quoted field).  A run of odd length opens or
    closes a field when it touches a field boundary (a separator, a line end, or the
    buffer's start or end); elsewhere it is a literal quote inside an unquoted field
    (``12" vinyl``), as pandas and the ``csv`` module read it.
    """
    quotes = np.flatnonzero(data == _QUOTE)
    if not len(quotes):
        return quotes
    new_run = np.ones(len(quotes), dtype=bool)
    new_run[1:] = np.diff(quotes) != 1
    first = np.flatnonzero(new_run)
    start = quotes[first]
    length = np.diff(np.append(first, len(quotes)))
    end = start + length - 1
    edges = np.zeros(256, dtype=bool)
    edges[[separator, _NEWLINE, _CARRIAGE_RETURN]] = True
    before = (start == 0) | edges[data[np.maximum(start - 1, 0)]]
    after = (end + 1 >= len(data)) | edges[data[np.minimum(end + 1, len(data) - 1)]]
    significant: NDArray[np.intp] = start[(length % 2 == 1) & (before | after)]
    return significant


def _scan(buffer: bytes, *, separator: int, first_line: int, final: bool) -> tuple[_Records, int]:
    """Find the complete records of ``buffer``; return them and the bytes consumed."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    quotes = _significant_quotes(data, separator)
    newlines = np.flatnonzero(data == _NEWLINE)
    closing = newlines[(np.searchsorted(quotes, newlines) & 1) == 0]
    ends = (closing + 1).astype(np.int64)
    consumed = int(ends[-1]) if len(ends) else 0
    unterminated = False
    if final and consumed < len(data):
        ends = np.append(ends, np.int64(len(data)))
        unterminated = bool((len(quotes) - np.searchsorted(quotes, consumed)) % 2)
        consumed = len(data)
    starts = np.concatenate(([0], ends[:-1])).astype(np.int64) if len(ends) else ends.copy()
    separators = np.flatnonzero(data == separator)
    unquoted = separators[(np.searchsorted(quotes, separators) & 1) == 0]
    fields = (np.searchsorted(unquoted, ends) - np.searchsorted(unquoted, starts) + 1).astype(
        np.int64
    )
    content_end = ends.copy()
    if len(ends):
        has_newline = data[ends - 1] == _NEWLINE
        content_end -= has_newline
        has_return = (content_end > starts) & (
            data[np.maximum(content_end - 1, 0)] == _CARRIAGE_RETURN
        )
        content_end -= has_return
    blank = content_end <= starts
    lines = (first_line + np.searchsorted(newlines, starts)).astype(np.int64)
    records = _Records(buffer, starts, ends, lines, fields, blank, unterminated)
    return records, consumed


class CsvReader:
    """Iterate over a CSV file in chunks of records with their physical line numbers.

    Parameters
    ----------
    path
        The file.  UTF-8 unless ``encoding`` says otherwise; a leading UTF-8 byte-order
        mark is accepted.
    sep
        The field separator (one character).
    chunksize
        Records per chunk.
    columns
        The columns to return (all when ``None``); the others are still counted.
    encoding
        An ASCII-compatible encoding (``"utf-8"``, ``"cp1251"``, ``"latin-1"``...).
    block_size
        Bytes read at a time.
    """

    def __init__(
        self,
        path: Path,
        *,
        sep: str,
        chunksize: int,
        columns: Sequence[str] | None = None,
        encoding: str = "utf-8",
        block_size: int = BLOCK_SIZE,
        start_offset: int = 0,
        start_line: int = 1,
    ) -> None:
        self.path = path
        self.sep = sep
        self.chunksize = chunksize
        self.columns = None if columns is None else list(columns)
        self.encoding = encoding
        self._utf8 = codecs.lookup(encoding).name == "utf-8"
        self.block_size = block_size
        self.header: list[str] = []
        self._header_line = 0
        self._started = False
        self.start_offset = start_offset
        self.start_line = start_line

    # -- reading ------------------------------------------------------------------------

    def _record_blocks(self, *, offset: int = 0, line: int = 1) -> Iterator[_Records]:
        separator = self.sep.encode("utf-8")[0]
        carry = b""
        first_line = line
        first = offset == 0
        base = offset
        with self.path.open("rb") as handle:
            handle.seek(offset)
            while True:
                block = handle.read(self.block_size)
                final = not block
                buffer = carry + block
                if first:
                    first = False
                    if self._utf8 and buffer.startswith(_BOM):
                        buffer = buffer.removeprefix(_BOM)
                        base += len(_BOM)
                records, consumed = _scan(
                    buffer, separator=separator, first_line=first_line, final=final
                )
                if len(records.starts):
                    yield attrs.evolve(records, base=base)
                first_line += buffer.count(b"\n", 0, consumed)
                base += consumed
                carry = buffer[consumed:]
                if len(carry) > MAX_RECORD_BYTES:
                    msg = (
                        f"{self.path.name}: the record starting on line {first_line} is longer "
                        f"than {MAX_RECORD_BYTES // 2**20} MiB; a quote is probably never "
                        "closed (quotes must follow RFC 4180: fields that contain quotes are "
                        'quoted, and quotes inside them are doubled "")'
                    )
                    raise IngestAbortedError(msg)
                if final:
                    return

    def read_header(self) -> list[str]:
        """Read and return the header (the first non-blank record)."""
        for records in self._record_blocks():
            for index in np.flatnonzero(~records.blank):
                raw = records.buffer[records.starts[index] : records.ends[index]]
                try:
                    text = raw.decode(self.encoding)
                except UnicodeDecodeError:
                    msg = (
                        f"{self.path.name}: the header on line {records.lines[index]} is not "
                        f"valid {self.encoding}; pass the file's encoding (encoding=...)"
                    )
                    raise SchemaError(msg) from None
                header = next(csv.reader(io.StringIO(text), delimiter=self.sep))
                self._check_header(header)
                self.header = header
                self._header_line = int(records.lines[index])
                return header
        msg = f"{self.path.name} is empty: it has no header line"
        raise SchemaError(msg)

    def _check_header(self, header: list[str]) -> None:
        duplicated = [name for name, count in Counter(header).items() if count > 1]
        if duplicated:
            msg = (
                f"{self.path.name}: the header names column(s) {sorted(set(duplicated))!r} "
                "more than once; rename them so each column is unique"
            )
            raise SchemaError(msg)

    def __iter__(self) -> Iterator[RawChunk]:
        """Yield chunks of at most ``chunksize`` records after the header."""
        if not self.header:
            self.read_header()
        pending: list[tuple[_Records, int, int]] = []
        pending_count = 0
        blocks = self._record_blocks(offset=self.start_offset, line=self.start_line)
        for records in blocks:
            keep = records.lines > self._header_line
            indices = np.flatnonzero(keep & ~records.blank)
            if not len(indices):
                continue
            low, high = int(indices[0]), int(indices[-1]) + 1
            while low < high:
                take = min(high - low, self.chunksize - pending_count)
                pending.append((records, low, low + take))
                pending_count += take
                low += take
                if pending_count == self.chunksize:
                    yield self._build(pending)
                    pending, pending_count = [], 0
        if pending:
            yield self._build(pending)

    # -- one chunk ----------------------------------------------------------------------

    def _build(self, pieces: list[tuple[_Records, int, int]]) -> RawChunk:
        parts: list[bytes] = []
        starts: list[NDArray[np.int64]] = []
        ends: list[NDArray[np.int64]] = []
        lines: list[NDArray[np.int64]] = []
        fields: list[NDArray[np.int64]] = []
        blank: list[NDArray[np.bool_]] = []
        offset = 0
        unterminated_at = -1
        for records, low, high in pieces:
            begin, stop = int(records.starts[low]), int(records.ends[high - 1])
            parts.append(records.buffer[begin:stop])
            starts.append(records.starts[low:high] - begin + offset)
            ends.append(records.ends[low:high] - begin + offset)
            lines.append(records.lines[low:high])
            fields.append(records.fields[low:high])
            blank.append(records.blank[low:high])
            if records.unterminated and high == len(records.starts):
                unterminated_at = offset + stop - begin
            offset += stop - begin
        data = b"".join(parts)
        start = np.concatenate(starts)
        end = np.concatenate(ends)
        line = np.concatenate(lines)
        field_count = np.concatenate(fields)
        skip = np.concatenate(blank)
        bad_bytes = self._undecodable(data, end)
        expected = len(self.header)
        rejected: list[RejectedRecord] = []
        reasons = np.full(len(start), "", dtype=object)
        if unterminated_at >= 0:
            reasons[-1] = "unterminated_quote"
        reasons[(reasons == "") & bad_bytes] = "invalid_encoding"
        reasons[(reasons == "") & ~skip & (field_count != expected)] = "wrong_field_count"
        good = (reasons == "") & ~skip
        for index in np.flatnonzero(reasons != ""):
            reason = str(reasons[index])
            raw = data[start[index] : end[index]]
            text = raw.decode(self.encoding, "backslashreplace").rstrip("\r\n")
            if reason == "invalid_encoding":
                detail = (
                    f"the record holds bytes that are not valid {self.encoding}; "
                    "pass the file's encoding (encoding=...)"
                )
            elif reason == "wrong_field_count":
                detail = (
                    f"expected {expected} fields, found {field_count[index]}; "
                    "check the separator and the quoting"
                )
            else:
                detail = "a quoted field is never closed; the rest of the file is one record"
            rejected.append(RejectedRecord(int(line[index]), reason, detail, text))
        frame = self._parse(data, start[good], end[good])
        last, _, high = pieces[-1]
        last_start, last_end = int(last.starts[high - 1]), int(last.ends[high - 1])
        return RawChunk(
            frame=frame,
            lines=line[good],
            rejected=tuple(rejected),
            end_offset=last.base + last_end,
            next_line=int(last.lines[high - 1]) + last.buffer.count(b"\n", last_start, last_end),
        )

    def _undecodable(self, data: bytes, ends: NDArray[np.int64]) -> NDArray[np.bool_]:
        bad = np.zeros(len(ends), dtype=bool)
        view = memoryview(data)
        position = 0
        while position < len(data):
            try:
                str(view[position:], self.encoding)
            except UnicodeDecodeError as error:
                where = position + error.start
                record = int(np.searchsorted(ends, where, side="right"))
                bad[record] = True
                position = int(ends[record])
            else:
                break
        return bad

    def _parse(
        self, data: bytes, starts: NDArray[np.int64], ends: NDArray[np.int64]
    ) -> pd.DataFrame:
        wanted = self.header if self.columns is None else self.columns
        if not len(starts):
            return pd.DataFrame({name: pd.Series([], dtype=str) for name in wanted})
        # join contiguous runs of good records (one slice per run, not per record)
        breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
        run_starts = starts[np.concatenate(([0], breaks))]
        run_ends = ends[np.concatenate((breaks - 1, [len(ends) - 1]))]
        body = b"".join(data[a:b] for a, b in zip(run_starts, run_ends, strict=True))
        if not self._utf8:  # every record here decodes; hand pandas UTF-8
            body = body.decode(self.encoding).encode("utf-8")
        frame = pd.read_csv(
            io.BytesIO(body),
            sep=self.sep,
            header=None,
            names=self.header,
            usecols=wanted,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            index_col=False,
            quotechar='"',
            doublequote=True,
            encoding="utf-8",
            engine="c",
        )
        if len(frame) != len(starts):
            rows = list(csv.reader(io.StringIO(body.decode("utf-8")), delimiter=self.sep))
            rows = [row for row in rows if row]
            if len(rows) != len(starts):
                msg = (
                    f"{self.path.name}: could not split the records after line "
                    f"{self._header_line}; check that quotes follow RFC 4180"
                )
                raise SchemaError(msg)
            frame = pd.DataFrame(rows, columns=self.header, dtype=str)[wanted]
        return frame[wanted]
