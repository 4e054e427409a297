"""Named credentials like n8n's `openAiApi`: key, organization, base URL, one custom header."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from parley import auth

OPENAI_BASE_URL = "https://api.openai.com/v1"
ENV_CREDENTIAL = "PARLEY_CREDENTIAL"


class CredentialError(Exception):
    """A credential cannot be found, read or stored; the message says what to do."""


def redact(secret: str) -> str:
    """A secret as a person may see it: ``…abcd``, never more than a quarter of it."""
    return auth.key_hint(secret) if secret else ""


def normalise_base_url(url: str) -> str:
    """The base URL without trailing slashes (n8n would build ``…/v1//conversations``)."""
    cleaned = url.strip().rstrip("/")
    if not cleaned.startswith(("http://", "https://")):
        raise CredentialError(f"base URL must start with http:// or https://, got {url!r}")
    return cleaned


@dataclass(frozen=True)
class Credential:
    """What n8n's `openAiApi` credential holds, under a name of the user's choosing."""

    name: str
    api_key: str
    base_url: str = OPENAI_BASE_URL
    organization_id: str | None = None
    header_name: str | None = None
    header_value: str | None = None

    def headers(self) -> dict[str, str]:
        """The one optional custom header, as the SDK's ``default_headers``."""
        if self.header_name and self.header_value is not None:
            return {self.header_name: self.header_value}
        return {}

    def describe(self) -> str:
        """A one-line, secret-free description: name, base URL and redacted key."""
        return f"credential '{self.name}' ({self.base_url}, key {redact(self.api_key)})"

    def public(self) -> dict[str, str | None]:
        """The fields safe to print: the key and the header value redacted."""
        shown: dict[str, str | None] = asdict(self)
        shown["api_key"] = redact(self.api_key)
        if self.header_value:
            shown["header_value"] = redact(self.header_value)
        return shown


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/parley`` (``~/.config/parley`` when the variable is unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parley"


def credentials_path() -> Path:
    """The file holding the named credentials (JSON, mode 0600)."""
    return config_dir() / "credentials.json"


def load_all() -> dict[str, Credential]:
    """Every stored credential by name (none when the file does not exist yet)."""
    path = credentials_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CredentialError(f"{path} does not hold a JSON object")
    try:
        return {name: Credential(name=name, **fields) for name, fields in raw.items()}
    except TypeError as exc:
        raise CredentialError(f"{path} has an unexpected field: {exc}") from exc


def _write_all(creds: Mapping[str, Credential]) -> None:
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {
        name: {k: v for k, v in asdict(c).items() if k != "name" and v is not None}
        for name, c in sorted(creds.items())
    }
    temp = path.with_name(path.name + ".tmp")
    # Created 0600 from the start, so the keys are never readable by others, not even briefly;
    # the rename makes the update atomic.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def save(credential: Credential) -> None:
    """Store (or replace) ``credential`` under its name."""
    if not credential.name:
        raise CredentialError("a credential needs a name")
    if not credential.api_key:
        raise CredentialError("a credential needs an API key")
    if bool(credential.header_name) != (credential.header_value is not None):
        raise CredentialError("a custom header needs both a name and a value")
    creds = load_all()
    creds[credential.name] = credential
    _write_all(creds)


def remove(name: str) -> None:
    """Forget the credential ``name``."""
    creds = load_all()
    if name not in creds:
        raise CredentialError(f"no credential named '{name}' in {credentials_path()}")
    del creds[name]
    _write_all(creds)


def resolve(name: str | None = None, env: Mapping[str, str] | None = None) -> Credential:
    """``name``, else ``$PARLEY_CREDENTIAL``, else ``$OPENAI_API_KEY``/``$OPENAI_BASE_URL``."""
    environ = os.environ if env is None else env
    chosen = name or environ.get(ENV_CREDENTIAL)
    if chosen:
        creds = load_all()
        if chosen not in creds:
            known = ", ".join(sorted(creds)) or "none stored"
            raise CredentialError(
                f"no credential named '{chosen}' ({known}); add it with "
                f"`parley credentials add {chosen} --api-key …`"
            )
        return creds[chosen]
    key = environ.get("OPENAI_API_KEY")
    if not key:
        raise CredentialError(
            "no credential: pass --credential NAME, set PARLEY_CREDENTIAL, or set "
            "OPENAI_API_KEY (and OPENAI_BASE_URL for a parley server)"
        )
    return Credential(
        name="$OPENAI_API_KEY",
        api_key=key,
        base_url=normalise_base_url(environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL),
        organization_id=environ.get("OPENAI_ORG_ID") or None,
    )
