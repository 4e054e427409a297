"""parley: OpenAI's Conversations API, self-hosted, with a client, a CLI and n8n's semantics.

The names below load on first use, so `import parley` stays cheap for server workers (the
node layer pulls in the `openai` SDK, the app pulls in Starlette).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "create_app": "parley.app",
    "open_store": "parley.store",
    "Store": "parley.store",
    "ParleyError": "parley.errors",
    "Node": "parley.node",
    "NodeError": "parley.sdk",
    "Credential": "parley.credentials",
}

__all__ = [
    "Credential",
    "Node",
    "NodeError",
    "ParleyError",
    "Store",
    "__version__",
    "create_app",
    "open_store",
]

if TYPE_CHECKING:
    from parley.app import create_app
    from parley.credentials import Credential
    from parley.errors import ParleyError
    from parley.node import Node
    from parley.sdk import NodeError
    from parley.store import Store, open_store


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'parley' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
