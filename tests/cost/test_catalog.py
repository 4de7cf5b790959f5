"""Catalog lookups: sourced prices, unknown never zero, close matches for typos, currency always stated."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from unifiedml.cost.catalog import (
    DATA_DIR,
    PROVIDERS,
    SCHEMA_VERSION,
    Catalog,
    PriceQuote,
    PriceRow,
    read_catalog_file,
    register_price_lookup,
    write_catalog_file,
)
from unifiedml.errors import ConfigError, NotFound
from unifiedml.specs import PORTABLE_SIZES


@pytest.fixture
def catalog() -> Catalog:
    return Catalog([DATA_DIR])


def test_every_shipped_file_has_metadata_and_every_row_names_source_and_date() -> None:
    for provider in PROVIDERS:
        f = read_catalog_file(DATA_DIR / f"{provider}.csv")
        assert f.metadata["schema_version"] == str(SCHEMA_VERSION)
        assert f.metadata["sources"] and f.metadata["fetched"]
        for row in f.rows:
            assert row.source_url.startswith("https://")
            assert row.read_on == "2026-11-24"
            assert row.currency == "USD" and row.price_per_hour > 0


def test_shipped_huggingface_prices_match_the_documentation(catalog: Catalog) -> None:
    q = catalog.lookup("huggingface", "nvidia-t4-x1", service="hosting", region="aws")
    assert (q.price_per_hour, q.currency) == (0.5, "USD")
    assert q.sources == ("https://huggingface.co/docs/inference-endpoints/support/pricing",)
    assert catalog.lookup("huggingface", "intel-spr-x2", service="hosting", region="gcp").price_per_hour == 0.1
    jobs = catalog.lookup("huggingface", "a10g-large", service="training", region="*")
    assert jobs.price_per_hour == 1.5 and "jobs-pricing" in jobs.sources[0]


def test_training_rows_apply_in_any_region(catalog: Catalog) -> None:
    assert catalog.lookup("huggingface", "t4-small", service="training").price_per_hour == 0.4


def test_every_portable_size_maps_to_a_known_type_on_every_provider(catalog: Catalog) -> None:
    for provider in PROVIDERS:
        for service in ("training", "hosting"):
            for size in PORTABLE_SIZES:
                itype = catalog.portable_instance(provider, size, service)
                quote = catalog.lookup(provider, itype, service=service)
                assert quote.currency == "USD"


def test_unsourced_price_is_unknown_not_zero(catalog: Catalog) -> None:
    q = catalog.lookup("sagemaker", "ml.m5.large", service="hosting", region="us-east-1")
    assert q.price_per_hour is None and not q.known
    assert "no sourced price" in (q.note or "")
    assert q.to_dict()["price_per_hour"] is None


def test_unknown_instance_type_lists_close_matches(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        catalog.lookup("sagemaker", "ml.m5.larg", service="training")
    assert "ml.m5.large" in (info.value.hint or "")


def test_unknown_region_lists_close_matches(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        catalog.lookup("vertex", "n1-standard-4", service="training", region="us-centrl1")
    assert "us-central1" in (info.value.hint or "")


def test_unknown_provider_lists_close_matches(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        catalog.lookup("sagemkr", "ml.m5.large")
    assert "sagemaker" in (info.value.hint or "")


def _row(itype: str, price: float, region: str = "us-central1") -> PriceRow:
    return PriceRow("vertex", "training", region, itype, price, "USD", "https://example.test/api", "2026-11-24")


def test_machine_plus_accelerator_is_the_sum_and_unknown_if_a_part_is(tmp_path: Path) -> None:
    write_catalog_file(
        tmp_path / "vertex.csv",
        [_row("n1-standard-4", 0.2), _row("NVIDIA_TESLA_T4", 0.35)],
        metadata={"sources": "test", "fetched": "2026-11-24"},
    )
    cat = Catalog([DATA_DIR, tmp_path])
    assert cat.lookup("vertex", "n1-standard-4+NVIDIA_TESLA_T4").price_per_hour == pytest.approx(0.55)
    write_catalog_file(
        tmp_path / "vertex.csv", [_row("n1-standard-4", 0.2)], metadata={"sources": "test", "fetched": "2026-11-24"}
    )
    assert Catalog([DATA_DIR, tmp_path]).lookup("vertex", "n1-standard-4+NVIDIA_TESLA_T4").price_per_hour is None


def test_refreshed_files_override_shipped_ones(tmp_path: Path) -> None:
    write_catalog_file(
        tmp_path / "sagemaker.csv",
        [
            PriceRow(
                "sagemaker",
                "hosting",
                "us-east-1",
                "ml.m5.large",
                0.123,
                "USD",
                "https://api.pricing.us-east-1.amazonaws.com",
                "2026-11-24",
            )
        ],
        metadata={"sources": "test", "fetched": "2026-11-24"},
    )
    cat = Catalog([DATA_DIR, tmp_path])
    assert cat.lookup("sagemaker", "ml.m5.large", service="hosting").price_per_hour == 0.123


def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "vertex.csv"
    p.write_text("# schema_version: 99\nprovider\n")
    with pytest.raises(ConfigError, match="schema_version 99"):
        read_catalog_file(p)


def test_a_row_without_source_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "vertex.csv"
    write_catalog_file(p, [_row("n1-standard-4", 0.2)], metadata={"sources": "t", "fetched": "t"})
    rows = list(csv.reader(p.read_text().splitlines()[3:]))
    rows[1][10] = ""
    p.write_text("# schema_version: 1\n" + "\n".join(",".join(r) for r in rows) + "\n")
    with pytest.raises(ConfigError, match="source_url"):
        read_catalog_file(p)


def test_a_registered_live_lookup_answers_first(catalog: Catalog) -> None:
    def live(itype: str, service: str, region: str) -> PriceQuote | None:
        if itype == "ml.m5.large":
            return PriceQuote("sagemaker", service, region, itype, 0.2, "USD", ("live",))
        return None

    register_price_lookup("sagemaker", live)
    try:
        assert catalog.lookup("sagemaker", "ml.m5.large").price_per_hour == 0.2
        assert catalog.lookup("sagemaker", "ml.m5.xlarge").price_per_hour is None
    finally:
        from unifiedml.cost import catalog as mod

        mod._LOOKUPS.pop("sagemaker", None)
