"""The reason taxonomy every non-advancing transition draws from."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.context import Caller
from schemas.taxonomy import TAXONOMY, TAXONOMY_VERSION

router = APIRouter(tags=["taxonomy"])


class TaxonomyCode(BaseModel):
    """One code with its family."""

    code: str
    family: str
    description: str


class Taxonomy(BaseModel):
    """``GET /v1/taxonomy``."""

    version: str
    codes: list[TaxonomyCode]


@router.get("/v1/taxonomy", response_model=Taxonomy, summary="Reason codes by family (versioned)")
async def taxonomy(_: Caller) -> Taxonomy:
    """Every reason code, its family and what it means."""
    codes = [
        TaxonomyCode(code=info.code.value, family=info.family.value, description=info.description)
        for info in TAXONOMY.values()
    ]
    return Taxonomy(version=TAXONOMY_VERSION, codes=codes)
