"""The price catalog: versioned data files, one pricing function, the provider as an argument.

Prices are data, not code. Each provider has one CSV file under
``unifiedml/cost/data/`` whose leading ``#`` lines carry its metadata
(``schema_version``, ``sources``, ``fetched``), and every row names its own
``source_url`` and the date it was ``read_on``. ``shapes.json`` beside them
holds what is *not* a price: the portable-size mapping, the default and known
regions, and the vCPU/memory/accelerator shape of the types we map to.

Contract:

* A type or region the catalog has never heard of is a :class:`NotFound`
  naming close matches (``ml.m5.larg`` -> ``ml.m5.large``).
* A known type without a sourced price is a :class:`PriceQuote` whose
  ``price_per_hour`` is ``None``: unknown, never zero.
* Every quote states its currency.

``unifiedml cost catalog refresh`` writes refreshed files to
``$UNIFIEDML_HOME/cost/catalog/``; files there override the shipped ones
provider by provider (see :func:`catalog_dirs`). A provider module may also
register a live price lookup with :func:`register_price_lookup`; it is asked
first and returns ``None`` to fall back to the files.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from unifiedml.errors import ConfigError, NotFound

logger = logging.getLogger(__name__)

__all__ = [
    "CATALOG_COLUMNS",
    "PROVIDERS",
    "SCHEMA_VERSION",
    "Catalog",
    "CatalogFile",
    "PriceQuote",
    "PriceRow",
    "Service",
    "catalog_dirs",
    "default_catalog",
    "read_catalog_file",
    "register_price_lookup",
    "write_catalog_file",
]

SCHEMA_VERSION = 1
#: Providers with a price file. ``local`` is priced from configured rates (see :mod:`.settings`).
PROVIDERS = ("sagemaker", "vertex", "azureml", "huggingface")
Service = Literal["training", "hosting"]
CATALOG_COLUMNS = (
    "provider",
    "service",
    "region",
    "instance_type",
    "vcpus",
    "memory_gib",
    "accelerator",
    "accelerator_count",
    "price_per_hour",
    "currency",
    "source_url",
    "read_on",
)
DATA_DIR = Path(__file__).with_name("data")
#: Joins a machine type and an accelerator priced separately (Vertex: ``n1-standard-4+NVIDIA_TESLA_T4``).
COMBINE = "+"

PriceLookup = Callable[[str, str, str], "PriceQuote | None"]
_LOOKUPS: dict[str, PriceLookup] = {}


def register_price_lookup(provider: str, lookup: PriceLookup) -> None:
    """Let a provider answer price questions live: ``lookup(instance_type, service, region)``.

    The lookup returns a :class:`PriceQuote` (with its source) or ``None`` to
    fall back to the catalog files. It must not guess: no price, no quote.
    """
    _LOOKUPS[provider] = lookup


@dataclass(frozen=True)
class PriceRow:
    """One sourced price: an instance type, in a region, for a service, per hour."""

    provider: str
    service: str
    region: str
    instance_type: str
    price_per_hour: float
    currency: str
    source_url: str
    read_on: str
    vcpus: float | None = None
    memory_gib: float | None = None
    accelerator: str | None = None
    accelerator_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PriceQuote:
    """The answer to a lookup. ``price_per_hour is None`` means unknown (never read as zero)."""

    provider: str
    service: str
    region: str
    instance_type: str
    price_per_hour: float | None
    currency: str
    sources: tuple[str, ...] = ()
    read_on: str | None = None
    note: str | None = None

    @property
    def known(self) -> bool:
        return self.price_per_hour is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sources"] = list(self.sources)
        out["known"] = self.known
        return out


@dataclass
class CatalogFile:
    """A parsed price file: its ``#`` metadata and its rows."""

    provider: str
    metadata: dict[str, str] = field(default_factory=dict)
    rows: list[PriceRow] = field(default_factory=list)


def _num(text: str) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def read_catalog_file(path: Path) -> CatalogFile:
    """Parse one ``<provider>.csv``. Raises ConfigError naming the file for a bad row or schema."""
    text = path.read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                meta.setdefault(key.strip(), value.strip())
        elif line.strip():
            body.append(line)
    version = int(meta.get("schema_version", "0") or 0)
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"price file {path} has schema_version {version}; this unifiedml reads {SCHEMA_VERSION}",
            field="cost.catalog",
            hint="run `unifiedml cost catalog refresh` or remove the file to use the shipped catalog",
        )
    out = CatalogFile(provider=path.stem, metadata=meta)
    for lineno, rec in enumerate(csv.DictReader(io.StringIO("\n".join(body))), start=2):
        try:
            price = float(rec["price_per_hour"])
            if price < 0 or not rec["currency"] or not rec["source_url"]:
                raise ValueError("price, currency and source_url are required")
            out.rows.append(
                PriceRow(
                    provider=rec["provider"],
                    service=rec["service"],
                    region=rec["region"],
                    instance_type=rec["instance_type"],
                    price_per_hour=price,
                    currency=rec["currency"],
                    source_url=rec["source_url"],
                    read_on=rec["read_on"],
                    vcpus=_num(rec.get("vcpus", "")),
                    memory_gib=_num(rec.get("memory_gib", "")),
                    accelerator=rec.get("accelerator") or None,
                    accelerator_count=int(_num(rec.get("accelerator_count", "")) or 0),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: data row {lineno}: {exc}", field="cost.catalog") from exc
    return out


def write_catalog_file(path: Path, rows: Iterable[PriceRow], *, metadata: dict[str, str]) -> int:
    """Write rows (sorted, one file per provider) with the metadata header; returns the row count."""
    rows = sorted(rows, key=lambda r: (r.service, r.region, r.instance_type))
    buf = io.StringIO()
    buf.write(f"# unifiedml price catalog: {path.stem}\n# schema_version: {SCHEMA_VERSION}\n")
    for key, value in metadata.items():
        if key != "schema_version":
            buf.write(f"# {key}: {value}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CATALOG_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.provider,
                r.service,
                r.region,
                r.instance_type,
                "" if r.vcpus is None else f"{r.vcpus:g}",
                "" if r.memory_gib is None else f"{r.memory_gib:g}",
                r.accelerator or "",
                r.accelerator_count,
                f"{r.price_per_hour:.10g}",
                r.currency,
                r.source_url,
                r.read_on,
            ]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return len(rows)


def catalog_dirs() -> list[Path]:
    """Where price files are read from, later wins: the shipped data, then refreshed files.

    Refreshed files live in ``$UNIFIEDML_COST_CATALOG`` when set, else
    ``$UNIFIEDML_HOME/cost/catalog`` (``./.unifiedml/cost/catalog``).
    """
    from unifiedml.state.store import default_home

    override = os.environ.get("UNIFIEDML_COST_CATALOG")
    refreshed = Path(override).expanduser() if override else default_home() / "cost" / "catalog"
    return [DATA_DIR, refreshed]


@cache
def _shapes() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA_DIR / "shapes.json").read_text(encoding="utf-8"))
    return data["providers"]  # type: ignore[no-any-return]


def _close(word: str, options: Iterable[str], n: int = 5) -> list[str]:
    options = sorted(set(options))
    close = difflib.get_close_matches(word, options, n=n, cutoff=0.5)
    if not close:
        close = [o for o in options if word.lower() in o.lower()][:n]
    return close


class Catalog:
    """Price files loaded into memory. Cheap to build; :func:`default_catalog` caches one per process."""

    def __init__(self, dirs: Iterable[Path] | None = None) -> None:
        self.files: dict[str, CatalogFile] = {}
        for directory in list(dirs) if dirs is not None else catalog_dirs():
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob("*.csv")):
                if path.stem in PROVIDERS:
                    self.files[path.stem] = read_catalog_file(path)
        self._index: dict[tuple[str, str, str, str], PriceRow] = {}
        for f in self.files.values():
            for row in f.rows:
                self._index[(row.provider, row.service, row.region, row.instance_type)] = row

    # -- what is known -----------------------------------------------------
    def rows(
        self,
        *,
        provider: str | None = None,
        service: str | None = None,
        region: str | None = None,
        instance_type: str | None = None,
    ) -> list[PriceRow]:
        """Rows matching every given field (``instance_type`` matches a substring, case-insensitive)."""
        out = []
        for f in self.files.values():
            for row in f.rows:
                if provider and row.provider != provider:
                    continue
                if service and row.service != service:
                    continue
                if region and row.region != region:
                    continue
                if instance_type and instance_type.lower() not in row.instance_type.lower():
                    continue
                out.append(row)
        return out

    def currency(self, provider: str) -> str:
        """The currency the provider's prices are stated in."""
        return str(self._provider(provider).get("currency", "USD"))

    def default_region(self, provider: str, service: str) -> str:
        return str(self._provider(provider)["default_region"][service])

    def regions(self, provider: str) -> set[str]:
        known = set(self._provider(provider).get("regions", []))
        known |= {r.region for r in self.rows(provider=provider)}
        return known

    def instance_types(self, provider: str) -> set[str]:
        """Every type the catalog knows for ``provider``: priced rows, mapped sizes, documented shapes."""
        info = self._provider(provider)
        known = {r.instance_type for r in self.rows(provider=provider)}
        known |= set(info.get("shapes", {}))
        for mapping in info.get("portable", {}).values():
            for value in mapping.values():
                known |= set(value.split(COMBINE))
        return known

    def shape(self, provider: str, instance_type: str) -> dict[str, Any]:
        """vCPU / memory / accelerator of a type (from a priced row or shapes.json); empty when unknown."""
        info = self._provider(provider)
        out: dict[str, Any] = {}
        for part in instance_type.split(COMBINE):
            base = dict(info.get("shapes", {}).get(part, {}))
            for row in self.rows(provider=provider):
                if row.instance_type == part:
                    base = {
                        "vcpus": row.vcpus,
                        "memory_gib": row.memory_gib,
                        "accelerator": row.accelerator,
                        "accelerator_count": row.accelerator_count,
                    } | {k: v for k, v in base.items() if v is not None}
                    break
            for key, value in base.items():
                if value is not None and key != "kind":
                    out.setdefault(key, value)
        return out

    def portable_instance(self, provider: str, size: str, service: str) -> str:
        """The provider's type for a portable size (``gpu-small`` -> ``ml.g4dn.xlarge``)."""
        mapping = self._provider(provider).get("portable", {}).get(service, {})
        if size not in mapping:
            raise NotFound(
                f"no {service} type is mapped for size {size!r}",
                provider=provider,
                hint="sizes: " + ", ".join(sorted(mapping)),
            )
        return str(mapping[size])

    def portable_sizes(self, provider: str, service: str) -> dict[str, str]:
        return dict(self._provider(provider).get("portable", {}).get(service, {}))

    # -- lookups -----------------------------------------------------------
    def lookup(
        self,
        provider: str,
        instance_type: str,
        *,
        service: Service | str = "training",
        region: str | None = None,
    ) -> PriceQuote:
        """The hourly on-demand price of one instance of ``instance_type``.

        ``instance_type`` may join a machine and an accelerator priced apart
        with ``+``; the quote is their sum, unknown when any part is unknown.
        Raises :class:`NotFound` (with close matches) for an unknown provider,
        service, region or type. A known type without a price is a quote with
        ``price_per_hour=None``.
        """
        info = self._provider(provider)
        if service not in info.get("default_region", {}):
            raise NotFound(
                f"unknown service {service!r}",
                provider=provider,
                hint="services: " + ", ".join(sorted(info.get("default_region", {}))),
            )
        region = region or self.default_region(provider, service)
        if region not in self.regions(provider):
            close = _close(region, self.regions(provider))
            raise NotFound(
                f"unknown region {region!r}",
                provider=provider,
                hint=("did you mean: " + ", ".join(close))
                if close
                else "known regions: " + ", ".join(sorted(self.regions(provider))),
            )
        known_types = self.instance_types(provider)
        for part in instance_type.split(COMBINE):
            if part not in known_types:
                close = _close(part, known_types)
                raise NotFound(
                    f"unknown instance type {part!r}",
                    provider=provider,
                    hint=("did you mean: " + ", ".join(close))
                    if close
                    else "see `unifiedml cost catalog show --provider " + provider + "`",
                )
        live = _LOOKUPS.get(provider)
        if live is not None:
            quote = live(instance_type, str(service), region)
            if quote is not None:
                return quote
        currency = self.currency(provider)
        total = 0.0
        sources: list[str] = []
        dates: list[str] = []
        missing: list[str] = []
        for part in instance_type.split(COMBINE):
            row = self._index.get((provider, str(service), region, part)) or self._index.get(
                (provider, str(service), "*", part)
            )
            if row is None:
                missing.append(part)
                continue
            if row.currency != currency:
                missing.append(f"{part} (priced in {row.currency})")
                continue
            total += row.price_per_hour
            sources.append(row.source_url)
            dates.append(row.read_on)
        if missing:
            return PriceQuote(
                provider,
                str(service),
                region,
                instance_type,
                None,
                currency,
                sources=tuple(dict.fromkeys(sources)),
                note=f"no sourced price for {', '.join(missing)} in {region}",
            )
        return PriceQuote(
            provider,
            str(service),
            region,
            instance_type,
            round(total, 10),
            currency,
            sources=tuple(dict.fromkeys(sources)),
            read_on=min(dates) if dates else None,
        )

    def _provider(self, provider: str) -> dict[str, Any]:
        shapes = _shapes()
        if provider not in shapes:
            close = _close(provider, shapes)
            raise NotFound(
                f"no price catalog for provider {provider!r}",
                hint=("did you mean: " + ", ".join(close))
                if close
                else "providers: " + ", ".join(shapes) + " (local is priced from configured rates)",
            )
        return shapes[provider]  # type: ignore[no-any-return]


_DEFAULT: dict[tuple[str, ...], Catalog] = {}


def default_catalog() -> Catalog:
    """The catalog from :func:`catalog_dirs` (cached per set of directories and their files' mtimes)."""
    dirs = catalog_dirs()
    key_parts: list[str] = []
    for d in dirs:
        if d.is_dir():
            key_parts += [f"{p}:{p.stat().st_mtime_ns}" for p in sorted(d.glob("*.csv"))]
    key = tuple(key_parts)
    if key not in _DEFAULT:
        _DEFAULT.clear()
        _DEFAULT[key] = Catalog(dirs)
    return _DEFAULT[key]
