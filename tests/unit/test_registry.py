from __future__ import annotations

from types import SimpleNamespace

import pytest

from unifiedml.errors import ConfigError
from unifiedml.providers import registry
from unifiedml.providers.local.provider import LocalProvider


def test_builtin_local_is_listed_and_loads() -> None:
    assert "local" in registry.available()
    assert registry.load("local") is LocalProvider


def test_unknown_provider_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        registry.load("sagemakr")
    assert "unknown provider 'sagemakr'" in str(info.value)
    assert "local" in (info.value.hint or "")


class _EP(SimpleNamespace):
    pass


def test_plugins_register_through_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from unifiedml.providers.base import Capability, Provider

    mod = types.ModuleType("uml_test_plugin")

    class MyCloud(Provider):
        name = "mycloud"
        capabilities = frozenset({Capability.PREDICT})
        UNSUPPORTED = {c: "test plugin" for c in Capability if c is not Capability.PREDICT}

    mod.MyCloud = MyCloud  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uml_test_plugin", mod)
    seen_groups = []

    def fake_entry_points(*, group: str) -> list[_EP]:
        seen_groups.append(group)
        return [_EP(name="mycloud", value="uml_test_plugin:MyCloud"), _EP(name="local", value="evil:Shadow")]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert "mycloud" in registry.available()
    assert registry.load("mycloud") is MyCloud
    assert registry.load("local") is LocalProvider  # plugins cannot shadow built-ins
    assert set(seen_groups) == {"unifiedml.providers"}


def test_a_plugin_that_is_not_a_provider_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [_EP(name="bad", value="json:dumps")])
    with pytest.raises(ConfigError) as info:
        registry.load("bad")
    assert "not name a unifiedml Provider" in str(info.value)
