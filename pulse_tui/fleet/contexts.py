"""The contexts file: which ssh target and pulse-tui arguments open a full pulse-tui on each scraped instance.

    # ~/.config/pulse-tui/fleet.toml
    [hosts."gw1.example.net:9464"]
    ssh = "root@gw1.example.net"
    args = ["--env-file", "/root/salesboy-gateway/.env"]

An instance missing from the file is reached at its own host name (the `instance` label without the port).
"""

from __future__ import annotations

import os
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path


class ContextsError(ValueError):
    """A contexts file that cannot be used: one sentence naming the file."""


@dataclass(frozen=True)
class Context:
    ssh: str
    args: tuple[str, ...] = ()


def default_contexts_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pulse-tui" / "fleet.toml"


def load_contexts(path: Path | None) -> dict[str, Context]:
    """Instance -> Context from a TOML file; {} when the default file does not exist."""
    explicit = path is not None
    path = path or default_contexts_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if explicit:
            raise ContextsError(f"--contexts {path}: no such file") from None
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ContextsError(f"--contexts {path}: {exc}") from None
    hosts = raw.get("hosts", {})
    if not isinstance(hosts, dict):
        raise ContextsError(f"--contexts {path}: [hosts] must be a table of instances")
    out = {}
    for instance, entry in hosts.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("ssh"), str) or not entry["ssh"]:
            raise ContextsError(f"--contexts {path}: hosts.{instance!r} needs ssh = \"user@host\"")
        args = entry.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ContextsError(f"--contexts {path}: hosts.{instance!r}.args must be a list of strings")
        out[str(instance)] = Context(entry["ssh"], tuple(args))
    return out


def host_of(instance: str) -> str:
    """`gw1:9464` -> `gw1`, `[::1]:9464` -> `::1`."""
    if instance.startswith("["):
        return instance[1:].split("]", 1)[0]
    return instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance


def ssh_command(instance: str, contexts: dict[str, Context]) -> list[str] | None:
    """The argv that opens pulse-tui on that instance, or None when its name cannot be an ssh target."""
    ctx = contexts.get(instance) or Context(host_of(instance))
    if not ctx.ssh or ctx.ssh.startswith("-") or any(c.isspace() for c in ctx.ssh):
        return None  # a label from Prometheus must never become an ssh option
    return ["ssh", "-t", "--", ctx.ssh, shlex.join(["pulse-tui", *ctx.args])]
