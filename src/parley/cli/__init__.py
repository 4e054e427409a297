"""The `parley` command: serve, keys, and the n8n-style conversation operations.

Subcommands load on first use: the `openai` SDK alone takes a quarter of a second to import,
and `parley --help` should answer at once.
"""

from __future__ import annotations

import importlib

import click

from parley import __version__

# name → (module, attribute, one-line help shown by `parley --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("parley.cli.serve", "serve", "Serve OpenAI's Conversations API on HOST:PORT."),
    "keys": ("parley.cli.keys", "keys", "Manage API keys and the projects they belong to."),
    "projects": (
        "parley.cli.projects",
        "projects",
        "Projects: keys, usage and retention (list, set --retention 30d).",
    ),
    "conversation": (
        "parley.cli.conversation",
        "conversation",
        "n8n's Conversation operations: create, get, update, remove, list, fork, search.",
    ),
    "items": ("parley.cli.items", "items", "A conversation's items: add, list, get, delete."),
    "response": (
        "parley.cli.response",
        "response",
        "n8n's Message a Model: a response, streamed to the terminal.",
    ),
    "credentials": (
        "parley.cli.credentials",
        "credentials_group",
        "Named credentials like n8n's openAiApi: add, list, remove, test.",
    ),
    "migrate": ("parley.cli.migrate", "migrate", "Apply pending schema migrations."),
    "migrate-data": (
        "parley.cli.migrate",
        "migrate_data",
        "Copy a whole SQLite store into PostgreSQL (resumable).",
    ),
    "export": (
        "parley.cli.transfer",
        "export",
        "Write a project's conversations and items as JSON Lines.",
    ),
    "import": ("parley.cli.transfer", "import_", "Import an export into a project."),
    "backup": ("parley.cli.backup", "backup", "Take a consistent online copy of a SQLite store."),
    "restore": ("parley.cli.backup", "restore", "Check a backup and restore it."),
    "stats": ("parley.cli.stats", "stats", "What the credential's project stores (a table)."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand; a database that cannot be used is one line, never a traceback."""
        from parley.errors import ParleyError
        from parley.store import MissingDriver

        try:
            return super().invoke(ctx)
        except MissingDriver as exc:
            raise click.ClickException(str(exc)) from None
        except ParleyError as exc:
            # Reaching here means a database command met the database's refusal (a server
            # that is down, a bad URL): the message says so; the stack says nothing more.
            raise click.ClickException(exc.message) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, text) for name, (_, _, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="parley")
def main() -> None:
    """parley: OpenAI's Conversations API, self-hosted.

    \b
    Start a server:      parley serve
    Manage API keys:     parley keys create --project acme
    Store a credential:  parley credentials add local --base-url http://127.0.0.1:8080/v1
    n8n's operations:    parley conversation create --message user:"Hello"
    Shell completion:    eval "$(_PARLEY_COMPLETE=bash_source parley)"  (zsh_source, fish_source)
    """
