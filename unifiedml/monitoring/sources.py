"""Tabular sources as streams of pyarrow record batches.

A check never needs a whole table in memory: every input (Parquet or CSV
files, a directory of them, a pyarrow Table, a pandas DataFrame, a dict of
columns, an iterator of record batches, a capture reader's frame) is wrapped
in a :class:`TabularSource` that yields record batches of a bounded size, with
column projection where the format allows it (Parquet reads only the columns
asked for; CSV parses whole rows but keeps only those columns).
"""

from __future__ import annotations

import glob
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from unifiedml.errors import ConfigError
from unifiedml.monitoring.columns import as_float_values
from unifiedml.monitoring.grid import Grid

logger = logging.getLogger(__name__)

__all__ = ["TabularSource", "batch_rows_for", "gather_marked", "open_source", "prefetch"]

#: Target size of one record batch in memory; rows per batch follow from the column count.
#: Small enough that the reader reuses its buffers (fresh memory is slow to fault in), large enough that
#: per-batch overhead is noise.
TARGET_BATCH_BYTES = 16 * 1024 * 1024
#: Wide Parquet files are read in groups of columns whose row groups fit in this much memory.
COLUMN_GROUP_BYTES = 256 * 1024 * 1024
_FILE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".tsv")


def batch_rows_for(n_columns: int) -> int:
    """Rows per batch: a batch of ``n_columns`` 8-byte columns near TARGET_BATCH_BYTES, but 32,768 to 2^20 rows.

    The floor keeps per-batch overhead small for wide tables (which
    :meth:`TabularSource.column_groups` reads a group of columns at a time).
    """
    rows = TARGET_BATCH_BYTES // max(1, n_columns * 8)
    return int(min(max(rows, 32_768), 1 << 20))


@dataclass
class TabularSource:
    """A re-readable (or, for iterators, single-pass) stream of record batches with a known schema.

    ``batches(columns)`` yields batches holding only ``columns`` (all when None);
    ``num_rows`` is known for files with metadata and in-memory tables, else None.
    """

    schema: pa.Schema
    description: str
    _open: Callable[[list[str] | None, int], Iterator[pa.RecordBatch]]
    reiterable: bool = True
    num_rows: int | None = None
    #: The data is already in memory (a table): keeping views of its batches costs nothing.
    in_memory: bool = False
    #: Rows in the largest Parquet row group (a reader holds a whole row group of every column it reads).
    row_group_rows: int | None = None
    #: The files behind the source, when it is files.
    paths: tuple[Path, ...] = ()
    _used: bool = False

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Path, size and modification time of every file (empty for other sources)."""
        out = []
        for p in self.paths:
            st = p.stat()
            out.append((str(p), st.st_size, st.st_mtime_ns))
        return tuple(out)

    def column_groups(self, columns: Sequence[str], *, budget_bytes: int | None = None) -> list[list[str]]:
        """Split ``columns`` so that reading one group holds at most ``budget_bytes`` of row groups.

        Only Parquet benefits (it reads column subsets cheaply): a wide file is
        read one group of columns at a time, each column still read once.
        Other sources get a single group.
        """
        cols = list(columns)
        if not self.row_group_rows or not cols:
            return [cols]
        per_group = max(1, (budget_bytes or COLUMN_GROUP_BYTES) // (8 * self.row_group_rows))
        return [cols[i : i + per_group] for i in range(0, len(cols), per_group)]

    def batches(self, columns: Sequence[str] | None = None, *, batch_rows: int | None = None
                ) -> Iterator[pa.RecordBatch]:
        """Yield record batches of the given columns (missing names are simply absent)."""
        if not self.reiterable:
            if self._used:
                raise ConfigError(f"{self.description} can be read only once", field="source")
            self._used = True
        have = set(self.schema.names)
        cols = None if columns is None else [c for c in columns if c in have]
        rows = batch_rows or batch_rows_for(len(cols) if cols is not None else len(self.schema))
        return self._open(cols, rows)


def _expand_paths(spec: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    items = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if any(ch in text for ch in "*?["):
            paths.extend(Path(p) for p in sorted(glob.glob(text)))
            continue
        p = Path(text).expanduser()
        if p.is_dir():
            paths.extend(sorted(q for q in p.iterdir() if q.name.lower().endswith(_FILE_SUFFIXES)))
        elif p.exists():
            paths.append(p)
        else:
            raise ConfigError(f"no such file or directory: {p}", field="source",
                              hint="pass a Parquet/CSV file, a directory of them, or a glob")
    if not paths:
        raise ConfigError(f"no Parquet or CSV files found in {spec}", field="source")
    return paths


def _is_csv(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".csv", ".csv.gz", ".tsv"))


def _parquet_batches(paths: list[Path], schemas: list[pa.Schema]
                     ) -> Callable[[list[str] | None, int], Iterator[pa.RecordBatch]]:
    """Batches from Parquet files whose schemas were read once, when the source was opened."""
    import pyarrow.parquet as pq

    # Text columns are read as dictionaries (as Parquet usually stores them): no string per row.
    text = [[f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            for schema in schemas]
    names = [set(schema.names) for schema in schemas]

    def _open(columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
        for path, dictionaries, have in zip(paths, text, names, strict=True):
            # pre_buffer would cache every row group read so far until the iteration ends: memory growing
            # with the rows (8.6 GB at 3M x 1,000). Local files need no read-ahead.
            pf = pq.ParquetFile(path, pre_buffer=False, read_dictionary=dictionaries or None)
            cols = None if columns is None else [c for c in columns if c in have]
            yield from pf.iter_batches(batch_size=rows, columns=cols, use_threads=True)

    return _open


def _csv_batches(paths: list[Path]) -> Callable[[list[str] | None, int], Iterator[pa.RecordBatch]]:
    from pyarrow import csv

    def _open(columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
        for path in paths:
            delimiter = "\t" if path.name.lower().endswith(".tsv") else ","
            reader = csv.open_csv(
                path,
                read_options=csv.ReadOptions(block_size=max(1 << 20, rows * 64)),
                parse_options=csv.ParseOptions(delimiter=delimiter),
                convert_options=csv.ConvertOptions(include_columns=columns, strings_can_be_null=True),
            )
            try:
                yield from reader
            except pa.ArrowInvalid as exc:
                raise ConfigError(
                    f"cannot parse {path}: {exc}",
                    field="source",
                    hint="a CSV column changed type part-way through; convert the file to Parquet",
                ) from exc

    return _open


def _files_source(paths: list[Path]) -> TabularSource:
    csvs = [_is_csv(p) for p in paths]
    if any(csvs) and not all(csvs):
        raise ConfigError("mixing CSV and Parquet files in one source is not supported", field="source")
    desc = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files under {paths[0].parent}"
    if all(csvs):
        from pyarrow import csv

        try:
            first = csv.open_csv(paths[0], convert_options=csv.ConvertOptions(strings_can_be_null=True))
        except (pa.ArrowInvalid, OSError) as exc:
            raise ConfigError(f"cannot read CSV {paths[0]}: {exc}", field="source") from exc
        return TabularSource(schema=first.schema, description=desc, _open=_csv_batches(paths), paths=tuple(paths))
    import pyarrow.parquet as pq

    try:
        files = [pq.ParquetFile(p) for p in paths]
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(f"cannot read Parquet {paths[0]}: {exc}", field="source") from exc
    rows = sum(f.metadata.num_rows for f in files)
    largest = max((f.metadata.row_group(i).num_rows for f in files for i in range(f.metadata.num_row_groups)),
                  default=0)
    batches = _parquet_batches(paths, [f.schema_arrow for f in files])
    return TabularSource(schema=files[0].schema_arrow, description=desc, _open=batches,
                         num_rows=rows, row_group_rows=largest or None, paths=tuple(paths))


def _table_source(table: pa.Table, description: str) -> TabularSource:
    def _open(columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
        t = table if columns is None else table.select(columns)
        yield from t.to_batches(max_chunksize=rows)

    return TabularSource(schema=table.schema, description=description, _open=_open, num_rows=table.num_rows,
                         in_memory=True)


def _iterator_source(batches: Iterable[pa.RecordBatch], description: str) -> TabularSource:
    it = iter(batches)
    try:
        first = next(it)
    except StopIteration:
        return _table_source(pa.table({}), description)
    if isinstance(first, pa.Table):
        first_batches = first.to_batches()
    else:
        first_batches = [first]
    schema = first.schema

    def _open(columns: list[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
        def _project(b: Any) -> Iterator[pa.RecordBatch]:
            chunks = b.to_batches() if isinstance(b, pa.Table) else [b]
            for chunk in chunks:
                if columns is None:
                    yield chunk
                else:
                    have = set(chunk.schema.names)
                    yield pa.RecordBatch.from_arrays(
                        [chunk.column(c) for c in columns if c in have],
                        names=[c for c in columns if c in have],
                    )

        for b in first_batches:
            yield from _project(b)
        for b in it:
            yield from _project(b)

    return TabularSource(schema=schema, description=description, _open=_open, reiterable=False)


def prefetch(it: Iterator[pa.RecordBatch], depth: int = 1) -> Iterator[pa.RecordBatch]:
    """Read the next batch on a background thread while the current one is processed."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def _run() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:
            q.put(exc)

    t = threading.Thread(target=_run, name="uml-drift-read", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def gather_marked(src: TabularSource, wanted: Mapping[str, tuple[Grid, np.ndarray]], *, workers: int
                  ) -> dict[str, np.ndarray]:
    """One read of ``src``: for each column, its values whose grid bin is marked (in the source's order).

    ``wanted`` maps a column name to its grid and a bool-per-bin mask. Missing
    values are skipped. Wide Parquet files are read in column groups.
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in wanted}

    def _add(name: str, batch: pa.RecordBatch) -> None:
        values, _ = as_float_values(batch.column(name))
        if len(values):
            grid, marked = wanted[name]
            parts[name].append(grid.select(values, marked))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for group in src.column_groups(list(wanted)):
            for batch in prefetch(src.batches(group)):
                have = set(batch.schema.names)
                list(pool.map(lambda c, b=batch: _add(c, b), [c for c in group if c in have]))
    return {name: np.concatenate(chunks) if chunks else np.empty(0, dtype=np.float64)
            for name, chunks in parts.items()}


def open_source(obj: Any) -> TabularSource:
    """Wrap any supported input as a :class:`TabularSource`.

    Accepts a path, glob or directory of Parquet/CSV files (or a list of them),
    a ``pyarrow.Table``/``RecordBatch``, a pandas DataFrame, a mapping of column
    name to a sequence of values, an iterable of record batches (read once), or
    a TabularSource. Raises :class:`ConfigError` for anything else.
    """
    if isinstance(obj, TabularSource):
        return obj
    if isinstance(obj, str | os.PathLike):
        return _files_source(_expand_paths(obj))
    if isinstance(obj, list | tuple) and obj and all(isinstance(x, str | os.PathLike) for x in obj):
        return _files_source(_expand_paths(obj))
    if isinstance(obj, pa.Table):
        return _table_source(obj, "table")
    if isinstance(obj, pa.RecordBatch):
        return _table_source(pa.Table.from_batches([obj]), "record batch")
    if type(obj).__name__ == "DataFrame" and hasattr(obj, "columns"):
        return _table_source(pa.Table.from_pandas(obj, preserve_index=False), "DataFrame")
    if isinstance(obj, dict):
        try:
            return _table_source(pa.table(obj), "dict of columns")
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ConfigError(f"cannot build a table from the given columns: {exc}", field="source") from exc
    if isinstance(obj, Iterable):
        return _iterator_source(obj, "record batches")
    raise ConfigError(
        f"unsupported data source of type {type(obj).__name__}",
        field="source",
        hint="pass a Parquet/CSV path, a pyarrow Table, a pandas DataFrame or a dict of columns",
    )
