"""Print the measures docs/architecture.md records: modules and lines by layer, and the
median and p90 function length (lines, decorators and docstrings included).

    .venv/bin/python scripts/measure_layers.py
"""

from __future__ import annotations

import ast
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "shoal"


def functions(tree: ast.AST) -> list[int]:
    """Lengths of every function and method in a module."""
    return [
        (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def main() -> None:
    layers: dict[str, list[tuple[int, list[int]]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "migrations" in parts:
            continue
        layer = parts[0].removesuffix(".py") if len(parts) > 1 else "(top)"
        text = path.read_text()
        layers.setdefault(layer, []).append((len(text.splitlines()), functions(ast.parse(text))))
    print("| package | modules | lines | largest module | functions | median | p90 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    every: list[int] = []
    for layer, modules in sorted(layers.items()):
        lengths = [n for _, fns in modules for n in fns]
        every += lengths
        print(f"| `{layer}` | {len(modules)} | {sum(n for n, _ in modules):,} | "
              f"{max(n for n, _ in modules)} | {len(lengths)} | {_median(lengths)} | "
              f"{_p90(lengths)} |")  # fmt: skip
    print(f"| all | {sum(len(m) for m in layers.values())} | "
          f"{sum(n for m in layers.values() for n, _ in m):,} | | {len(every)} | "
          f"{_median(every)} | {_p90(every)} |")  # fmt: skip


def _median(values: list[int]) -> str:
    return f"{statistics.median(values):g}" if values else "-"


def _p90(values: list[int]) -> str:
    return f"{statistics.quantiles(values, n=10)[-1]:g}" if len(values) > 1 else "-"


if __name__ == "__main__":
    main()
