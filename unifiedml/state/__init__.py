"""The embedded state store (SQLite, WAL): resources, intent journal, lifecycle events."""

from unifiedml.state.store import (
    Event,
    JournalEntry,
    ResourceRecord,
    StateStore,
    config_hash,
    default_home,
    register_migrations,
)

__all__ = [
    "Event",
    "JournalEntry",
    "ResourceRecord",
    "StateStore",
    "config_hash",
    "default_home",
    "register_migrations",
]
