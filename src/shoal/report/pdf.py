"""Print a self-contained HTML page to PDF with headless Chromium.

A report and a card are already print-styled pages (``@media print``), so the PDF is
the browser printing them: no second layout engine to keep in step. Chromium is found
by :func:`shoal.config.chromium` (``SHOAL_CHROMIUM`` or PATH) and runs with no network,
no profile of the user's (a fresh one in a temporary folder), and a time limit.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from shoal import config
from shoal.errors import MissingDependency, ShoalError

TIMEOUT_SECONDS = 120
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
)  # fmt: skip


class PdfFailed(ShoalError):
    """Chromium ran but wrote no PDF."""

    exit_code = 1


def print_pdf(html: str) -> bytes:
    """The PDF Chromium prints of page ``html`` (A4, the page's print stylesheet)."""
    binary = config.chromium()
    if binary is None:
        raise MissingDependency(
            "a PDF is printed by Chromium, and none was found: install chromium (Debian: "
            "apt-get install chromium) or set SHOAL_CHROMIUM to a Chrome or Chromium binary"
        )
    with tempfile.TemporaryDirectory(prefix="shoal-pdf-") as folder:
        page, out = Path(folder) / "page.html", Path(folder) / "page.pdf"
        page.write_text(html, encoding="utf-8")
        command = [binary, *FLAGS, f"--user-data-dir={folder}/profile",
                   f"--print-to-pdf={out}", page.as_uri()]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise PdfFailed(f"Chromium did not print within {TIMEOUT_SECONDS} s") from exc
        except OSError as exc:
            raise MissingDependency(f"Chromium at {binary!r} could not start: {exc}; set "
                                    "SHOAL_CHROMIUM to a working binary") from exc  # fmt: skip
        if not out.exists() or out.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", "replace")[-600:]
            raise PdfFailed(f"Chromium exited {done.returncode} without a PDF: {tail}")
        return out.read_bytes()
