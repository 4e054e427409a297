"""Print the URL of a PostgreSQL that `make test` can use, or say on stderr why there is none.

`make test` runs the PostgreSQL half of the suite when this prints a URL: each test makes a
throwaway database on that server and drops it after.
"""

from __future__ import annotations

import asyncio
import sys

DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
HOW = "start PostgreSQL there, or set PARLEY_TEST_POSTGRES_URL=postgresql://USER@HOST:PORT/postgres"


async def _reachable(url: str) -> str | None:
    """None when ``url`` takes a connection, else why not."""
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError) as exc:
        return f"nothing answers on 127.0.0.1:5432 ({type(exc).__name__})"
    except Exception as exc:  # asyncpg's own errors: auth, a missing role
        return f"127.0.0.1:5432 refused {url}: {exc}"
    await conn.close()
    return None


def main() -> int:
    """Print DEFAULT if it takes connections; else one line on stderr."""
    why = asyncio.run(_reachable(DEFAULT))
    if why is None:
        print(DEFAULT)
        return 0
    print(
        f"make test: PostgreSQL tests will be skipped: {why}; to run them, {HOW}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
