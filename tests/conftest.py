"""Shared fixtures: a live `parley serve` on a free loopback port, keys per test, SDK clients."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest

from parley import auth, testing
from parley.store import open_store
from parley.testing import free_port
from tests.upstream import FakeUpstream

POSTGRES_URL = os.environ.get("PARLEY_TEST_POSTGRES_URL")
# Why PostgreSQL tests skip, and how to turn them on (`make test` does it when it can).
POSTGRES_SKIP = (
    "PostgreSQL tests need PARLEY_TEST_POSTGRES_URL; `make test` sets it when a PostgreSQL "
    "answers on 127.0.0.1:5432"
)


@dataclass
class LiveServer:
    """A running `parley serve` process."""

    database: str
    port: int
    api_key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def new_key(self, project: str | None = None) -> str:
        """Mint a key for ``project`` (a fresh project by default) straight in the database."""
        return mint_key(self.database, project or f"p-{uuid.uuid4().hex[:12]}")

    def client(self, api_key: str | None = None, **options: object) -> openai.OpenAI:
        """The official SDK pointed at this server, validating every answer strictly."""
        settings: dict[str, object] = {"max_retries": 0, "timeout": 30.0}
        settings.update(options)
        return openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or self.api_key,
            _strict_response_validation=True,
            **settings,  # type: ignore[arg-type]
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def mint_key(database: str, project: str) -> str:
    """Create an API key for ``project`` in ``database`` (SQLite file or PostgreSQL URL)."""

    async def run() -> str:
        store = open_store(database)
        await store.open()
        try:
            plain, _ = await auth.create_key(store, project, name="test")
            return plain
        finally:
            await store.close()

    return asyncio.run(run())


def start_server(
    database: str,
    log_path: Path,
    *,
    api_key: str | None = None,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 30.0,
) -> LiveServer:
    """Start `python -m parley serve` and wait until /healthz answers."""
    port = port or free_port()
    key = api_key or f"sk-test-{uuid.uuid4().hex}"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PARLEY_API_KEY", None)
    command = testing.serve_command(database, port, ["--api-key", key, *(args or [])])
    started = testing.launch(command, port, log_path, env=full_env, timeout=timeout)
    return LiveServer(database, port, key, started.process, log_path, env or {})


def stop_server(server: LiveServer, sig: int = signal.SIGTERM) -> int:
    """Stop the server with ``sig`` and return its exit code."""
    return testing.ServeProcess(server.process, server.port, server.log_path).stop(sig)


def _backends(*, pgbouncer: bool = False) -> list[object]:
    postgres = [
        pytest.mark.postgres,
        pytest.mark.skipif(POSTGRES_URL is None, reason=POSTGRES_SKIP),
    ]
    found = [
        "sqlite",
        pytest.param("postgres", marks=postgres),
    ]
    if pgbouncer:
        from tests import bouncer

        why = bouncer.missing()
        found.append(
            pytest.param(
                "pgbouncer",
                marks=[*postgres, pytest.mark.skipif(why is not None, reason=why or "")],
            )
        )
    return found


def backends_with_pgbouncer() -> list[object]:
    """Every backend, and PostgreSQL through PgBouncer in transaction mode: for a module whose
    own ``backend`` fixture takes these params."""
    return _backends(pgbouncer=True)


@pytest.fixture(scope="session", params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the live server runs on."""
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for the session's server (for PgBouncer: its direct URL)."""
    if backend == "sqlite":
        yield str(tmp_path_factory.mktemp("db") / "parley.db")
        return
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def server(
    backend: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One live server for the session; tests keep apart through their own projects.

    Through PgBouncer the server connects to the bouncer with ``--pgbouncer``; keys minted
    by tests and the CLI go to the database directly (``LiveServer.database``).
    """
    log = tmp_path_factory.mktemp("log") / "server.log"
    if backend == "pgbouncer":
        from tests import bouncer

        with bouncer.running(database_url) as port:
            live = start_server(bouncer.through(database_url, port), log, args=["--pgbouncer"])
            live.database = database_url
            yield live
            stop_server(live)
        return
    live = start_server(database_url, log)
    yield live
    stop_server(live)


@pytest.fixture
def api_key(server: LiveServer) -> str:
    """A key of a project of this test's own."""
    return server.new_key()


@pytest.fixture
def client(server: LiveServer, api_key: str) -> Iterator[openai.OpenAI]:
    """The official SDK, strict validation, no retries, in this test's own project."""
    with server.client(api_key) as sdk:
        yield sdk


@pytest.fixture
def http(server: LiveServer, api_key: str) -> Iterator[httpx.Client]:
    """A raw HTTP client with this test's key, for what the SDK cannot send."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as raw:
        yield raw


@pytest.fixture(params=_backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each backend, for a test that starts servers of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "parley.db")
        return
    from tests.pg import fresh_database

    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    """The deterministic model server the Responses tests put behind parley."""
    fake = FakeUpstream(models=["fake-model", "fake-other", "org/big-model"])
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def responses_server(
    backend: str, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A live parley with ``upstream`` behind /v1/responses, on each backend.

    Its config file's [[upstreams]] add ``dead-*`` models (a port nothing listens on),
    ``slow-*`` ones (``upstream`` with a one-second timeout) and ``resp-*`` ones
    (``upstream``'s own Responses API).
    """
    folder = tmp_path_factory.mktemp("rdb")
    config = folder / "parley.toml"
    config.write_text(
        f'[[upstreams]]\nname = "dead"\nurl = "http://127.0.0.1:{free_port()}/v1"\n'
        'models = ["dead-*"]\n\n'
        f'[[upstreams]]\nname = "slow"\nurl = "{upstream.url}"\nmodels = ["slow-*"]\n'
        "timeout = 1\n\n"
        f'[[upstreams]]\nname = "responses-api"\nurl = "{upstream.url}"\nmodels = ["resp-*"]\n'
        'api = "responses"\n'
    )
    args = [
        "--upstream",
        upstream.url,
        "--upstream-api-key",
        "sk-upstream-secret",
        "--config",
        str(config),
    ]
    log = tmp_path_factory.mktemp("rlog") / "server.log"
    if backend == "sqlite":
        live = start_server(str(folder / "parley.db"), log, args=args)
        yield live
        stop_server(live)
        return
    from tests.pg import fresh_database

    with fresh_database() as url:
        live = start_server(url, log, args=args)
        yield live
        stop_server(live)


@pytest.fixture
def rclient(responses_server: LiveServer) -> Iterator[openai.OpenAI]:
    """The strict SDK against ``responses_server``, in this test's own project."""
    with responses_server.client(responses_server.new_key()) as sdk:
        yield sdk


@pytest.fixture
def model() -> str:
    """A model name of this test's own, so scripted replies and records keep apart."""
    return f"m-{uuid.uuid4().hex[:10]}"
