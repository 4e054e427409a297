"""parley: OpenAI's Conversations API, self-hosted, with a client, a CLI and n8n's semantics."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
