"""The package's public surface: exactly what __all__ names, each importable, cheaply."""

from __future__ import annotations

import subprocess
import sys

import parley


def test_all_names_resolve() -> None:
    assert set(parley.__all__) == {
        "__version__",
        "create_app",
        "open_store",
        "Store",
        "ParleyError",
        "Node",
        "NodeError",
        "Credential",
    }
    for name in parley.__all__:
        assert getattr(parley, name) is not None


def test_importing_parley_loads_neither_the_sdk_nor_the_server() -> None:
    code = "import sys, parley; print('openai' in sys.modules, 'starlette' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
