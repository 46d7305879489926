"""Tests that keep the docs true: settings, CLI commands and the public surface."""

from __future__ import annotations

from pathlib import Path

import shoal
from shoal import config

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = [s.env for s in config.SETTINGS if f"`{s.env}`" not in page]
    assert missing == [], f"add these settings to docs/configuration.md: {missing}"


def test_public_surface_is_exported_and_sorted() -> None:
    exported = shoal.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(shoal).items()
        if not name.startswith("_") and (isinstance(value, type) or callable(value))
    }
    assert public == set(exported), f"shoal/__init__.py and __all__ drift: {public ^ set(exported)}"


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("```")[1]
    assert "make demo" in head and "make test" in head


def test_cli_reference_is_current() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
