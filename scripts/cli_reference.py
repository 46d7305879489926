"""Write docs/cli.md from the CLI itself, so the reference cannot drift from the code.

    python scripts/cli_reference.py          # rewrite docs/cli.md
    python scripts/cli_reference.py --check  # exit 1 if docs/cli.md is out of date

``tests/test_docs.py`` runs the check, so ``make test`` fails when a command changes
and its reference does not.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from shoal.cli import app

PAGE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _param_line(param: Any) -> str:
    if param.param_type_name == "argument":
        help_text = " ".join((getattr(param, "help", None) or "").split())
        name = (param.metavar or param.name or "").upper()
        return f"- `{name}` (argument): {help_text}".rstrip(": ")
    opts = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
    help_text = " ".join((getattr(param, "help", None) or "").split())
    return f"- {opts}: {help_text}" if help_text else f"- {opts}"


def _command(path: str, cmd: Any, out: list[str]) -> None:
    if hasattr(cmd, "commands"):
        if cmd.help and path != "shoal":
            out += [f"## `{path}`", "", " ".join(cmd.help.split()), ""]
        for name in sorted(cmd.commands):
            _command(f"{path} {name}", cmd.commands[name], out)
        return
    out += [f"## `{path}`", ""]
    if cmd.help:
        out += [cmd.help.strip(), ""]
    params = [p for p in cmd.params if p.name != "help"]
    if params:
        out += [_param_line(p) for p in params]
        out.append("")


def render() -> str:
    root = typer.main.get_command(app)
    out = [
        "# CLI reference",
        "",
        "Generated from the CLI by `python scripts/cli_reference.py`; "
        "`tests/test_docs.py` fails when it is out of date.",
        "",
        " ".join((root.help or "").split()),
        "",
        "Global options:",
        "",
        *[_param_line(p) for p in root.params if p.name != "help"],
        "",
    ]
    _command("shoal", root, out)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print("docs/cli.md is out of date: run python scripts/cli_reference.py")
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
