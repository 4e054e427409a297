"""The `parley` command: serve, keys, and the n8n-style conversation operations."""

from __future__ import annotations

import click

from parley import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def _register() -> None:
    from parley.cli import conversation as conversation_cli
    from parley.cli import credentials as credentials_cli
    from parley.cli import items as items_cli
    from parley.cli import keys, serve

    main.add_command(serve.serve)
    main.add_command(keys.keys)
    main.add_command(credentials_cli.credentials_group)
    main.add_command(conversation_cli.conversation)
    main.add_command(items_cli.items)


_register()
