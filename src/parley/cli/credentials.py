"""`parley credentials`: named credentials like n8n's `openAiApi`, stored with mode 0600."""

from __future__ import annotations

import json
import sys

import click
import openai
from rich.console import Console
from rich.table import Table

from parley import credentials
from parley.sdk import make_client, translate

# A conversation id that cannot exist: any 404 for it proves the key was accepted.
PROBE_ID = "conv_parley_credential_test"


@click.group("credentials")
def credentials_group() -> None:
    """Store, list, remove and test named credentials (API key, base URL, org, header).

    \b
    Stored in $XDG_CONFIG_HOME/parley/credentials.json (mode 0600). Commands pick one with
    --credential NAME, else $PARLEY_CREDENTIAL, else $OPENAI_API_KEY / $OPENAI_BASE_URL.

    \b
    Example:
      parley credentials add local --base-url http://127.0.0.1:8080/v1 --api-key sk-…
      parley credentials test local
    """


@credentials_group.command("add")
@click.argument("name")
@click.option(
    "--api-key",
    envvar="PARLEY_NEW_API_KEY",
    default=None,
    help="The key (else $PARLEY_NEW_API_KEY, else read from a pipe, else prompted without "
    "echo; the last three keep it out of argv).",
)
@click.option("--base-url", default=credentials.OPENAI_BASE_URL, show_default=True)
@click.option("--organization", default=None, help="OpenAI organization ID (optional).")
@click.option("--header-name", default=None, help="Name of one custom header (optional).")
@click.option("--header-value", default=None, help="Value of the custom header.")
def add(
    name: str,
    api_key: str | None,
    base_url: str,
    organization: str | None,
    header_name: str | None,
    header_value: str | None,
) -> None:
    """Store credential NAME (replacing one of the same name).

    \b
    Example:
      parley credentials add local --base-url http://127.0.0.1:8080/v1
      printf '%s\n' "$KEY" | parley credentials add local --base-url http://127.0.0.1:8080/v1
    """
    if api_key is None:
        api_key = _read_key()
    try:
        credential = credentials.Credential(
            name=name,
            api_key=api_key.strip(),
            base_url=credentials.normalise_base_url(base_url),
            organization_id=organization or None,
            header_name=header_name or None,
            header_value=header_value,
        )
        credentials.save(credential)
    except credentials.CredentialError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"saved {credential.describe()} in {credentials.credentials_path()}")


def _read_key() -> str:
    """The key from a pipe (one line), or prompted without echo at a terminal."""
    stdin = sys.stdin
    if stdin.isatty():
        entered: str = click.prompt("Api key", hide_input=True)
        return entered
    # getpass on a pipe warns (GetPassWarning) and echoes; a pipe needs no hiding anyway.
    line = stdin.readline().strip()
    if not line:
        raise click.UsageError(
            "no API key: pass it on standard input, in $PARLEY_NEW_API_KEY or with --api-key"
        )
    return line


@credentials_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per credential.")
def list_credentials(as_json: bool) -> None:
    """List stored credentials (keys shown as …abcd only).

    \b
    Example:
      parley credentials list --json
    """
    try:
        creds = credentials.load_all()
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        for credential in creds.values():
            click.echo(json.dumps(credential.public(), ensure_ascii=False))
        return
    table = Table("name", "base URL", "key", "organization", "header")
    for c in creds.values():
        table.add_row(
            c.name,
            c.base_url,
            credentials.redact(c.api_key),
            c.organization_id or "",
            c.header_name or "",
        )
    Console().print(table)


@credentials_group.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Forget credential NAME.

    \b
    Example:
      parley credentials remove local
    """
    try:
        credentials.remove(name)
    except credentials.CredentialError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed credential '{name}'")


@credentials_group.command("test")
@click.argument("name", required=False)
def test(name: str | None) -> None:
    """Check a credential with one cheap authenticated call (default: the one in use).

    \b
    Example:
      parley credentials test local
    """
    try:
        credential = credentials.resolve(name)
    except credentials.CredentialError as exc:
        raise click.UsageError(str(exc)) from None
    client = make_client(credential, max_retries=0, timeout=15.0)
    try:
        client.conversations.retrieve(PROBE_ID)
    except openai.NotFoundError as exc:
        # The key passed and only the probe id is unknown, unless the route itself is.
        if exc.code == "unknown_url":
            click.echo(
                f"failed: {credential.base_url} has no Conversations API "
                f"(is the base URL right? it usually ends in /v1): {exc.message}",
                err=True,
            )
            raise SystemExit(1) from None
    except openai.OpenAIError as exc:
        error = translate(exc, credential)
        click.echo(f"failed: {credential.describe()}: {error.explain()}", err=True)
        raise SystemExit(1) from None
    finally:
        client.close()
    click.echo(f"ok: {credential.describe()} is accepted")
