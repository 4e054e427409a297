"""The floor under parley: a bare ASGI app and a bare RSGI app that answer /healthz only.

    python bench/bare.py --port 8001 [--workers 1]

serves the ASGI app under the very granian settings `parley serve` uses (its
``granian_server``), so `make bench` can measure the floor in the same run as parley and
quote every route as a ratio to it. bench/variants.py serves both apps through granian's own
CLI instead, to compare granian options. Either way they show what granian alone costs per
request on this machine, so parley's own share of a request can be told apart from the server's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI: answer every HTTP request with the /healthz body."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def rsgi(scope: Any, protocol: Any) -> None:
    """RSGI (granian's native interface): the same answer."""
    protocol.response_bytes(200, [("content-type", "application/json")], BODY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="serve the bare ASGI app as parley serve would")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    from parley import settings
    from parley.cli.serve import granian_server

    # granian's workers import "bare:asgi" themselves: they need this folder on their path.
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [here, *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    sys.path.insert(0, here)
    chosen = settings.build({"host": args.host, "port": args.port, "workers": args.workers})
    granian_server(chosen, "bare:asgi").serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
