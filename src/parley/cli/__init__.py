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
    """


def _register() -> None:
    from parley.cli import keys, serve

    main.add_command(serve.serve)
    main.add_command(keys.keys)


_register()
