"""Model cards over REST and as pages, over ``fleet.cards``.

GET   /api/v1/fleets/{t}/{f}/models/{model}/card           the card as JSON (?format=md|html)
PATCH /api/v1/fleets/{t}/{f}/models/{model}/card           owner, intended_use, limitations
POST  /api/v1/fleets/{t}/{f}/models/{model}/card/approve   and /archive, /draft
GET   /fleets/{t}/{f}/models/{model}/card                  the card page, with a form to edit
POST  /fleets/{t}/{f}/models/{model}/card                  save the form (then /approve ...)

The page is the card's own self-contained HTML (it prints as the card: the form is hidden
by the print stylesheet). These routes are included before the model routes: a model's
key may hold '/', so ".../models/{model:path}" would otherwise take ".../card".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from shoal.errors import Conflict, InvalidInput
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import FleetName, ModelPath, Tenant
from shoal.report.cards import ModelCard
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.web.api import parse_model

_FORMS = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"]),
)
Format = Annotated[str, Query(pattern="^(json|md|html)$", description="json, md or html.")]
_DONE = {
    "saved": "Saved.", "redrafted": "Saved. The card was approved; its text changed, so it "
    "is a draft again: an approval covers the text that was approved.",
    "approved": "Approved.", "archived": "Archived.", "draft": "Back to draft.",
}  # fmt: skip


class CardFields(BaseModel):
    """The fields of a card people write; a field left out is left as it is."""

    model_config = ConfigDict(extra="forbid")
    owner: str | None = Field(None, description="Who answers for the model: 200 characters")
    intended_use: str | None = Field(None, description="What it is for: 4,000 characters")
    limitations: str | None = Field(None, description="Where not to trust it: 4,000 characters")


def cards_router(client: Client) -> APIRouter:
    """The card's REST routes and its page, as one router to include before the model's."""
    router = APIRouter()
    router.include_router(_api(client))
    router.include_router(_pages(client))
    return router


def _target(client: Client, tenant: str, fleet: str, model: str) -> tuple[Fleet, dict[str, str]]:
    found = client.fleet(f"{tenant}/{fleet}")
    return found, parse_model(found, model)


def _api(client: Client) -> APIRouter:
    api = APIRouter(prefix="/api/v1/fleets/{tenant}/{fleet}/models", responses=ERROR_RESPONSES)

    @api.get("/{model:path}/card", response_model=None)
    def card(
        tenant: Tenant, fleet: FleetName, model: ModelPath, format: Format = "json"
    ) -> dict[str, Any] | Response:
        """One model's card: its data as JSON, or the card itself in Markdown or HTML."""
        target, key = _target(client, tenant, fleet, model)
        found = target.cards.get(key)
        if format == "md":
            return PlainTextResponse(found.to_markdown(), media_type="text/markdown; charset=utf-8")
        if format == "html":
            return HTMLResponse(found.to_html())
        return found.to_dict()

    @api.patch("/{model:path}/card", responses=WRITE_RESPONSES)
    def update(
        tenant: Tenant, fleet: FleetName, model: ModelPath, body: CardFields
    ) -> dict[str, Any]:
        """Write owner, intended use or limitations; an approved card goes back to draft."""
        target, key = _target(client, tenant, fleet, model)
        return target.cards.update(
            key, owner=body.owner, intended_use=body.intended_use, limitations=body.limitations
        ).to_dict()

    def status(action: str) -> Any:
        def change(tenant: Tenant, fleet: FleetName, model: ModelPath) -> dict[str, Any]:
            target, key = _target(client, tenant, fleet, model)
            moved: ModelCard = getattr(target.cards, action)(key)
            return moved.to_dict()

        change.__name__ = f"card_{action}"
        change.__doc__ = {
            "approve": "Approve a draft card (it needs an owner and an intended use).",
            "archive": "Archive a card.",
            "draft": "Reopen an approved or archived card as a draft.",
        }[action]
        return change

    for action in ("approve", "archive", "draft"):
        api.post(f"/{{model:path}}/card/{action}", responses=WRITE_RESPONSES)(status(action))
    return api


def _pages(client: Client) -> APIRouter:
    pages = APIRouter(include_in_schema=False)
    at = "/fleets/{tenant}/{fleet}/models/{model:path}/card"

    def page(
        request: Request, tenant: str, fleet: str, model: str, *, done: str | None = None,
        error: str | None = None,
        typed: dict[str, str] | None = None, status_code: int = 200,
    ) -> HTMLResponse:  # fmt: skip
        target, key = _target(client, tenant, fleet, model)
        card = target.cards.get(key)
        base = f"/fleets/{target.path}/models/{quote(model, safe='=,/')}"
        form = _FORMS.get_template("card_form.html").render(
            card=card, fields=typed or {"owner": card.owner, "intended_use": card.intended_use,
                                        "limitations": card.limitations},
            url=f"{base}/card", model_url=base, error=error, notice=_DONE.get(done or ""),
            api_url=f"/api/v1{base}/card", csrf_token=request.state.csrf_token,
        )  # fmt: skip
        return HTMLResponse(card.to_html(form=form), status_code=status_code)

    @pages.get(at, response_class=HTMLResponse)
    def card_page(
        request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath,
        done: str | None = None,
    ) -> HTMLResponse:  # fmt: skip
        return page(request, tenant, fleet, model, done=done)

    @pages.post(at, response_model=None)
    def save(
        request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath, owner: str = Form(""),
        intended_use: str = Form(""), limitations: str = Form(""),
    ) -> Response:  # fmt: skip
        target, key = _target(client, tenant, fleet, model)
        typed = {"owner": owner, "intended_use": intended_use, "limitations": limitations}
        before = target.cards.get(key).status
        try:
            after = target.cards.update(key, **typed)
        except InvalidInput as exc:
            return page(request, tenant, fleet, model, error=_named(exc), typed=typed,
                        status_code=422)  # fmt: skip
        done = "redrafted" if before == "approved" and after.status == "draft" else "saved"
        return RedirectResponse(f"{_card_url(target, model)}?done={done}", status_code=303)

    def status(action: str, done: str) -> Any:
        def change(
            request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath
        ) -> Response:
            target, key = _target(client, tenant, fleet, model)
            try:
                getattr(target.cards, action)(key)
            except (InvalidInput, Conflict) as exc:
                code = 409 if isinstance(exc, Conflict) else 422
                return page(request, tenant, fleet, model, error=_named(exc), status_code=code)
            return RedirectResponse(f"{_card_url(target, model)}?done={done}", status_code=303)

        change.__name__ = f"card_page_{action}"
        return change

    for action, done in (("approve", "approved"), ("archive", "archived"), ("draft", "draft")):
        pages.post(f"{at}/{action}", response_model=None)(status(action, done))
    return pages


def _card_url(fleet: Fleet, model: str) -> str:
    return f"/fleets/{fleet.path}/models/{quote(model, safe='=,/')}/card"


def _named(exc: InvalidInput | Conflict) -> str:
    message = str(exc)
    return f"{exc.field}: {message}" if exc.field and not message.startswith(exc.field) else message
