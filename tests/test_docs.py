"""Tests that keep the docs true: settings, CLI commands, the public surface, the REST routes
(docs/api.md) and the filter grammar (``--where`` help, docs/search.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shoal
from shoal import config
from shoal.cli._options import WHERE_HELP
from shoal.errors import FilterSyntaxError, InvalidInput
from shoal.http.auth import Auth
from shoal.store import filters, query
from shoal.store.tenancy import FleetRef

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
    lazy = set(shoal._LAZY)  # imported on first use (the report brings DuckDB and Jinja2)
    assert all(isinstance(getattr(shoal, name), type) for name in lazy)
    public |= lazy
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


# --- REST routes: docs/api.md lists every route of both apps, with its parameters ---------

ROUTE_ROW = re.compile(r"^\|\s*`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`\s*\|([^|]*)\|", re.M)
Routes = dict[tuple[str, str], tuple[set[str], set[str]]]


def _shape(path: str) -> str:
    """A path with its parameters unnamed: ``/runs/{id}`` documents ``/runs/{run_id}``."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _documented(text: str) -> Routes:
    """``(METHOD, path)`` to the query parameters (`name=`) and body fields ("name") of a row."""
    rows: Routes = {}
    for method, path, params in ROUTE_ROW.findall(text):
        route = (method, _shape(path))
        assert route not in rows, f"docs/api.md lists {method} {path} twice"
        rows[route] = (set(re.findall(r"`(\w+)=`", params)), set(re.findall(r'"(\w+)"', params)))
    return rows


def _body_fields(schema: dict[str, Any], node: Any) -> set[str]:
    """Every field name of a request body, nested models included."""
    found: set[str] = set()
    seen: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for value in item:
                walk(value)
        elif isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref not in seen:
                seen.add(ref)
                model = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
                found.update(model.get("properties", {}))
                walk(model.get("properties", {}))
            for key, value in item.items():
                if key != "$ref":
                    walk(value)

    walk(node)
    return found


def _served(app: Any) -> Routes:
    """Every route of an app's OpenAPI schema, and the schema's own route."""
    schema = app.openapi()
    routes: Routes = {("GET", app.openapi_url): (set(), set())}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            routes[(method.upper(), _shape(path))] = (query, _body_fields(schema, body))
    return routes


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from shoal.serve import create_app
    from shoal.web import create_web_app

    root = tmp_path_factory.mktemp("apps")
    client = shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))
    serve = create_app(client, auth=Auth.off(), logs_url=str(root / "logs"))
    yield {"web": create_web_app(client, auth=Auth.off()), "serve": serve}
    for log in serve.state.logs:
        log.close()
    client.close()


def _api_sections() -> dict[str, str]:
    """docs/api.md split into the web app's REST part, its pages and the prediction server's."""
    page = (ROOT / "docs" / "api.md").read_text()
    web, sep, serve = page.partition("\n## Prediction server\n")
    assert sep, "docs/api.md has no '## Prediction server' section"
    rest, sep, pages = web.partition("\n## Pages\n")
    assert sep, "docs/api.md has no '## Pages' section"
    return {"web": rest, "serve": serve, "pages": pages}


PAGE_ROW = re.compile(r"^\|\s*`(?:(POST) )?(/[^`?\s]*)[^`]*`\s*\|", re.M)


def _hidden_routes(routes: Any, prefix: str = "", hidden: bool = False) -> Iterator[Any]:
    """(method, path) of every route left out of the schema, through included routers
    (FastAPI keeps them flat, or, from 0.16x, behind an ``original_router``)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            if hidden or not route.include_in_schema:
                for method in route.methods:
                    yield method, prefix + route.path
        elif hasattr(route, "original_router"):
            router, context = route.original_router, route.include_context
            yield from _hidden_routes(
                router.routes, prefix + context.prefix + router.prefix,
                hidden or not (router.include_in_schema and context.include_in_schema),
            )  # fmt: skip


def test_every_page_and_form_post_is_documented(apps: dict[str, Any]) -> None:
    """The routes outside the OpenAPI schema (pages, their form posts) are in '## Pages'."""
    served = {
        (method, _shape(path.replace(":path}", "}")))
        for method, path in _hidden_routes(apps["web"].routes)
        if not path.startswith("/static/")
    }
    documented = {
        (method or "GET", _shape(path))
        for method, path in PAGE_ROW.findall(_api_sections()["pages"])
    }
    missing = sorted(f"{m} {p}" for m, p in served - documented)
    gone = sorted(f"{m} {p}" for m, p in documented - served)
    assert missing == [], f"add these pages or form posts to '## Pages' of docs/api.md: {missing}"
    assert gone == [], f"'## Pages' of docs/api.md lists routes the web app lacks: {gone}"


@pytest.mark.parametrize("app", ["web", "serve"])
def test_every_route_is_documented(apps: dict[str, Any], app: str) -> None:
    served = _served(apps[app])
    documented = _documented(_api_sections()[app])
    where = "docs/api.md" + (" (## Prediction server)" if app == "serve" else "")
    missing = sorted(f"{m} {p}" for m, p in served.keys() - documented.keys())
    gone = sorted(f"{m} {p}" for m, p in documented.keys() - served.keys())
    assert missing == [], f"add these routes of the {app} app to {where}: {missing}"
    assert gone == [], f"{where} lists routes the {app} app does not have: {gone}"
    drift = {
        f"{method} {path}": {"app": served[method, path], "docs": documented[method, path]}
        for method, path in served
        if served[method, path] != documented[method, path]
    }
    assert drift == {}, f"query parameters or body fields differ in {where}: {drift}"


def test_every_api_route_is_under_api_v1(apps: dict[str, Any]) -> None:
    outside = [p for _, p in _served(apps["web"]) if not p.startswith("/api/v1/")]
    assert outside == [], f"routes in the web app's schema outside /api/v1: {outside}"


# --- The filter grammar: --where help and docs/search.md list what the parser has ----------

SEARCH = ROOT / "docs" / "search.md"
SPECIAL_NAMES = ["alias", *query.VERSION_FIELDS, *(f"{ns}.NAME" for ns in query.NAMESPACES)]
"""Names ``query.resolve`` treats specially; every other name is a key, a metric or ALIAS.METRIC."""

KEYWORD_EXAMPLES = {
    "and": "mape > 0.3 and store = 's01'",
    "or": "mape > 0.3 or store = 's01'",
    "not": "not mape > 0.3",
    "in": "store in ('s01', 's02')",
    "is": "run is null",
    "null": "run is not null",
    "true": "params.fit_intercept = true",
    "false": "params.fit_intercept = false",
}


def _listed(text: str, label: str) -> list[str]:
    """The words after ``Label:`` up to ``;`` or the end of its line: its code spans when it
    has any (docs), else its words (CLI help)."""
    found = re.findall(rf"(?:^|\s){label}:([^;\n]*)", text, re.M)
    assert len(found) == 1, f"expected one '{label}:' list, found {len(found)} in {text[:80]!r}"
    spans = re.findall(r"`([^`]+)`", found[0])
    return spans or found[0].split()


def _where_helps() -> dict[str, str]:
    """``--where`` help of every command that takes a filter, by command path."""
    import typer.main

    from shoal.cli import app

    helps: dict[str, str] = {}

    def walk(path: str, cmd: Any) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(f"{path} {name}", sub)
        for param in getattr(cmd, "params", []):
            if "--where" in getattr(param, "opts", []) and "Operators:" in (param.help or ""):
                helps[path] = param.help

    walk("shoal", typer.main.get_command(app))
    return helps


def _grammar_texts() -> dict[str, str]:
    return {"docs/search.md": SEARCH.read_text(), **_where_helps()}


def test_filter_help_is_on_every_filter_option() -> None:
    helps = _where_helps()
    assert {"shoal models", "shoal alias set"} <= set(helps), sorted(helps)
    assert all(WHERE_HELP in text for text in helps.values())


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Operators", list(filters.OPERATORS)),
        ("Keywords", sorted(filters.KEYWORDS)),
        ("Names", SPECIAL_NAMES),
    ],
)
def test_grammar_vocabulary_matches_the_parser(label: str, expected: list[str]) -> None:
    for where, text in _grammar_texts().items():
        listed = _listed(text, label)
        assert sorted(listed) == sorted(expected), (
            f"{where}: {label} lists {listed}; the parser has {expected} "
            f"(missing {sorted(set(expected) - set(listed))}, "
            f"extra {sorted(set(listed) - set(expected))})"
        )


def test_grammar_cmp_rules_match_the_parser() -> None:
    for where, text in {"docs/search.md": SEARCH.read_text(),
                        "shoal/store/filters.py": filters.__doc__ or ""}.items():  # fmt: skip
        rule = re.search(r"^\s*cmp\s*:=(.*)$", text, re.M)
        assert rule, f"{where} has no cmp rule"
        listed = [op.strip().strip('"') for op in rule.group(1).split("|")]
        assert sorted(listed) == sorted(filters.OPERATORS), f"{where}: cmp := {listed}"


def test_every_listed_operator_parses() -> None:
    listed = {op for text in _grammar_texts().values() for op in _listed(text, "Operators")}
    for op in listed:
        node = filters.parse(f"mape {op} 0.3")
        assert node == filters.Compare(
            filters.Field(("mape",)), filters.SYNONYMS.get(op, op), 0.3
        ), op


def test_the_parser_has_no_other_operator() -> None:
    symbols = "=!<>~"
    candidates = {a + b for a in ["", *symbols] for b in symbols} - set(filters.OPERATORS)
    for op in sorted(candidates):
        with pytest.raises(FilterSyntaxError):
            filters.parse(f"mape {op} 0.3")


def test_every_keyword_parses_and_is_reserved() -> None:
    assert set(KEYWORD_EXAMPLES) == filters.KEYWORDS, "give each keyword an example"
    for word, example in KEYWORD_EXAMPLES.items():
        assert word in example.split() and filters.parse(example) is not None
        assert filters.parse(example.upper().replace("'S0", "'s0")) is not None
        with pytest.raises(FilterSyntaxError):
            filters.parse(f"{word} = 1")


def test_every_special_name_resolves_as_documented() -> None:
    fleet = FleetRef(id=1, tenant_id=1, tenant="t", name="f", keys=("store",), allow_pickle=False)
    for name in SPECIAL_NAMES:
        field = filters.Field(tuple(name.replace(".NAME", ".x").split(".")))
        kind = query.resolve(query.Sql(fleet, "latest"), field).kind
        assert kind != "metric" or name == "metrics.NAME", f"{name} resolves as a metric"
    assert query.resolve(query.Sql(fleet, "latest"), filters.Field(("alias",))).kind == "alias"
    for namespace in query.NAMESPACES:
        with pytest.raises(InvalidInput):
            query.resolve(query.Sql(fleet, "latest"), filters.Field((namespace,)))
