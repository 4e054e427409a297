"""The numbered migrations of each dialect, and the check both backends make before using one.

Each dialect's folder holds ``NNNN_name.sql`` files, applied in order; the database records
the versions it has, so a newer parley upgrades an older database and an older parley
refuses a newer one.
"""

from __future__ import annotations

from importlib import resources


class SchemaTooNew(RuntimeError):
    """The database was written by a newer parley; refusing to touch it."""


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """The numbered migrations shipped for ``dialect``: (version, name, sql), in order."""
    folder = resources.files("parley.store.migrations").joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


def check_version(where: str, current: int, newest: int) -> None:
    """Refuse a database whose schema ``current`` is past this parley's ``newest``."""
    if current > newest:
        raise SchemaTooNew(
            f"{where} has schema version {current}, but this parley knows only up to "
            f"{newest}. Upgrade parley, or point it at another database."
        )
