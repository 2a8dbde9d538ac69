"""Receivers for Slack incoming webhooks and Teams workflow webhooks that check the payload's contract.

Slack (api.slack.com, "Sending messages using incoming webhooks", Block Kit reference): a JSON body with a
``text`` fallback and ``blocks``; the blocks liftoff sends are ``header`` (``plain_text``, at most 150
characters), ``section`` (text object, at most 3000), ``actions`` (at most 25 elements; ``button`` with a
``plain_text`` label of at most 75 and a ``url``). The real endpoint answers ``200 ok``, or 400
``invalid_payload`` / ``invalid_blocks``.

Teams (Workflows "When a Teams webhook request is received" + "Post card in a chat or channel"): a
``message`` with one attachment of content type ``application/vnd.microsoft.card.adaptive`` whose content
is an Adaptive Card (``type: AdaptiveCard``, a ``version``, ``body`` of elements such as ``TextBlock``
with ``text``, ``actions`` such as ``Action.OpenUrl`` with ``title`` and ``url``). Power Automate answers
202 Accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlainText(_Strict):
    type: Literal["plain_text"]
    text: str = Field(min_length=1, max_length=3000)
    emoji: bool | None = None


class HeaderText(PlainText):
    text: str = Field(min_length=1, max_length=150)


class Header(_Strict):
    type: Literal["header"]
    text: HeaderText


class Section(_Strict):
    type: Literal["section"]
    text: PlainText


class ButtonText(PlainText):
    text: str = Field(min_length=1, max_length=75)


class Button(_Strict):
    type: Literal["button"]
    text: ButtonText
    url: HttpUrl


class Actions(_Strict):
    type: Literal["actions"]
    elements: list[Button] = Field(min_length=1, max_length=25)


class SlackMessage(_Strict):
    text: str = Field(min_length=1)
    blocks: list[Header | Section | Actions] = Field(min_length=1, max_length=50)


class TextBlock(_Strict):
    type: Literal["TextBlock"]
    text: str = Field(min_length=1)
    wrap: bool | None = None
    weight: Literal["Default", "Lighter", "Bolder"] | None = None


class OpenUrl(_Strict):
    type: Literal["Action.OpenUrl"]
    title: str = Field(min_length=1)
    url: HttpUrl


class AdaptiveCard(_Strict):
    schema_: str | None = Field(default=None, alias="$schema")
    type: Literal["AdaptiveCard"]
    version: Literal["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]
    body: list[TextBlock] = Field(min_length=1)
    actions: list[OpenUrl] = Field(default_factory=list)


class Attachment(_Strict):
    contentType: Literal["application/vnd.microsoft.card.adaptive"]  # noqa: N815 - the contract's name
    contentUrl: None = None  # noqa: N815 - the contract's name
    content: AdaptiveCard


class TeamsMessage(_Strict):
    type: Literal["message"]
    attachments: list[Attachment] = Field(min_length=1, max_length=1)


@dataclass
class ChatReceiver:
    """What the receivers got; ``fail_next`` answers 503 to that many requests first."""

    slack: list[tuple[str, SlackMessage]] = field(default_factory=list)
    teams: list[tuple[str, TeamsMessage]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    fail_next: int = 0
    attempts: int = 0


def chat_app(receiver: ChatReceiver) -> FastAPI:
    """``POST /slack/hook`` and ``POST /teams/hook``."""
    app = FastAPI()

    async def _take(request: Request, model: type[SlackMessage] | type[TeamsMessage]) -> tuple[str, Any] | Response:
        receiver.attempts += 1
        if receiver.fail_next > 0:
            receiver.fail_next -= 1
            return Response("busy", status_code=503)
        try:
            message = model.model_validate_json(await request.body())
        except ValidationError as err:
            receiver.invalid.append(str(err))
            return Response("invalid_blocks", status_code=400)
        return request.headers.get("Idempotency-Key", ""), message

    @app.post("/slack/hook")
    async def slack(request: Request) -> Response:
        taken = await _take(request, SlackMessage)
        if isinstance(taken, Response):
            return taken
        receiver.slack.append(taken)
        return Response("ok", media_type="text/plain")

    @app.post("/teams/hook")
    async def teams(request: Request) -> Response:
        taken = await _take(request, TeamsMessage)
        if isinstance(taken, Response):
            return taken
        receiver.teams.append(taken)
        return Response(status_code=202)

    return app
