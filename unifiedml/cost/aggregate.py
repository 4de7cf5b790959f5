"""Cost records as Arrow tables, grouped and summed with pyarrow compute (vectorised, multi-threaded).

The columnar form (:data:`ARROW_SCHEMA`) is also the Parquet layout the
benchmark and ``cost report --records`` read. Estimates and billed amounts
are summed side by side per group and currency (currencies are never added
together); a side with no record is null, not zero, so "no bill yet" and
"billed nothing" stay different.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from unifiedml.cost.records import CostRecord
from unifiedml.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["GROUP_KEYS", "aggregate", "arrow_schema", "filter_period", "read_records", "records_to_table"]

#: What a report can group by; ``tag:<key>`` groups by the value of one tag.
GROUP_KEYS = ("provider", "project", "resource", "service", "day", "tag")


def arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("provider", pa.string()),
            ("project", pa.string()),
            ("resource", pa.string()),
            ("service", pa.string()),
            ("kind", pa.string()),
            ("start", pa.timestamp("us", tz="UTC")),
            ("end", pa.timestamp("us", tz="UTC")),
            ("amount", pa.float64()),
            ("currency", pa.string()),
            ("source", pa.string()),
            ("tags", pa.map_(pa.string(), pa.string())),
        ]
    )


def records_to_table(records: Iterable[CostRecord]) -> pa.Table:
    """CostRecords -> an Arrow table with :func:`arrow_schema`."""
    import pyarrow as pa

    cols: dict[str, list[object]] = {name: [] for name in arrow_schema().names}
    for r in records:
        cols["provider"].append(r.provider)
        cols["project"].append(r.project)
        cols["resource"].append(r.resource)
        cols["service"].append(r.service)
        cols["kind"].append(r.kind)
        cols["start"].append(r.start)
        cols["end"].append(r.end)
        cols["amount"].append(r.amount)
        cols["currency"].append(r.currency)
        cols["source"].append(r.source)
        cols["tags"].append(list(r.tags.items()))
    return pa.table(cols, schema=arrow_schema())


def read_records(path: str) -> pa.Table:
    """Records from Parquet (``.parquet``), CSV or JSON lines; missing optional columns become null."""
    import pyarrow as pa

    if path.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif path.endswith((".jsonl", ".json")):
        import pyarrow.json as pj

        table = pj.read_json(path)
    else:
        import pyarrow.csv as pc_csv

        table = pc_csv.read_csv(path)
    schema = arrow_schema()
    missing = [f for f in ("provider", "kind", "start", "amount", "currency") if f not in table.column_names]
    if missing:
        raise ConfigError(
            f"{path} lacks the columns {missing}", field="records", hint="columns: " + ", ".join(schema.names)
        )
    out = []
    for field in schema:
        if field.name in table.column_names:
            col = table[field.name]
            out.append(col if col.type == field.type else col.cast(field.type))
        else:
            out.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(out, schema=schema)


def filter_period(table: pa.Table, *, since: datetime | None, until: datetime | None) -> pa.Table:
    """Rows whose ``start`` lies in ``[since, until)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = None
    ts_type = table.schema.field("start").type
    if since is not None:
        mask = pc.greater_equal(table["start"], pa.scalar(since, type=ts_type))
    if until is not None:
        upper = pc.less(table["start"], pa.scalar(until, type=ts_type))
        mask = upper if mask is None else pc.and_(mask, upper)
    return table if mask is None else table.filter(mask)


def _key_column(table: pa.Table, key: str) -> tuple[str, pa.Array]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if key == "day":
        return "day", pc.cast(table["start"], pa.date32())
    if key.startswith("tag:"):
        tag = key[4:]
        if "tags" not in table.column_names:
            return key, pa.nulls(table.num_rows, pa.string())
        return key, pc.map_lookup(table["tags"], pa.scalar(tag, pa.string()), "first")
    if key not in table.column_names:
        raise ConfigError(
            f"cannot group by {key!r}",
            field="group_by",
            hint="use one of " + ", ".join(GROUP_KEYS) + " (tag as tag:<key>)",
        )
    return key, table[key]


def aggregate(table: pa.Table, group_by: Sequence[str]) -> pa.Table:
    """Sum estimate and billed amounts per ``group_by`` keys and currency.

    Output columns: the keys, ``currency``, ``estimate``, ``billed``,
    ``difference`` (billed - estimate, null unless both are known) and
    ``records``. Sorted by the keys. Pure; uses pyarrow's hash aggregation.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    for key in group_by:
        if key not in GROUP_KEYS and not key.startswith("tag:"):
            raise ConfigError(
                f"cannot group by {key!r}",
                field="group_by",
                hint="use one of " + ", ".join(GROUP_KEYS) + " (tag as tag:<key>)",
            )
    kind = table["kind"]
    amount = table["amount"]
    null = pa.scalar(None, pa.float64())
    cols = {}
    for key in group_by:
        name, col = _key_column(table, key)
        cols[name] = col
    cols["currency"] = table["currency"]
    cols["estimate_amount"] = pc.if_else(pc.equal(kind, "estimate"), amount, null)
    cols["billed_amount"] = pc.if_else(pc.equal(kind, "billed"), amount, null)
    work = pa.table(cols)
    keys = [*cols][: len(group_by) + 1]
    opts = pc.ScalarAggregateOptions(min_count=1)
    result = work.group_by(keys, use_threads=True).aggregate(
        [("estimate_amount", "sum", opts), ("billed_amount", "sum", opts), ("currency", "count")]
    )
    result = result.rename_columns(
        [*keys, "estimate", "billed", "records"]
        if result.column_names[-1] == "currency_count"
        else list(result.column_names)
    )
    diff = pc.subtract(result["billed"], result["estimate"])
    result = result.append_column("difference", diff)
    order = [*keys, "estimate", "billed", "difference", "records"]
    result = result.select(order)
    if keys:
        result = result.sort_by([(k, "ascending") for k in keys])
    return result
