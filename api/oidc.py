"""Verifying OpenID Connect tokens from the company's identity provider (PyJWT; keys from the issuer's JWKS).

The issuer's discovery document names its JWKS; keys are cached and fetched again when a token names a
key id we do not know (key rotation), at most every ``refresh_every`` seconds. Only asymmetric algorithms
are accepted (never ``none`` or a shared-secret HMAC, which would let a token sign itself). Every
refusal says why in one sentence: not a JWT, another issuer, an unknown key, a bad signature, expired,
not yet valid, the wrong audience, no email.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger(__name__)

#: Algorithms a token may be signed with: public-key ones only.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class OidcError(Exception):
    """A token that does not authenticate anyone; the message says why."""


@dataclass(frozen=True)
class Identity:
    """Who a verified token names, and the groups the issuer puts them in."""

    email: str
    groups: tuple[str, ...]
    subject: str


class OidcVerifier:
    """Verifies bearer JWTs of one issuer for one audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        email_claim: str = "email",
        groups_claim: str = "groups",
        leeway_seconds: float = 30,
        refresh_every: float = 30,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.email_claim = email_claim
        self.groups_claim = groups_claim
        self.leeway = leeway_seconds
        self._refresh_every = refresh_every
        self._http = http or httpx.AsyncClient(timeout=10)
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def metadata(self) -> Mapping[str, Any]:
        """The issuer's discovery document (fetched once)."""
        if self._metadata is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                response = await self._http.get(url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as err:
                raise OidcError(f"the identity provider cannot be reached ({type(err).__name__})") from err
            if not isinstance(document, dict) or "jwks_uri" not in document:
                raise OidcError("the identity provider's discovery document has no jwks_uri")
            self._metadata = document
        return self._metadata

    async def _refresh_keys(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._refresh_every:
                return
            uri = str((await self.metadata())["jwks_uri"])
            try:
                response = await self._http.get(uri)
                response.raise_for_status()
                key_set = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as err:
                raise OidcError(f"the identity provider's keys cannot be read ({type(err).__name__})") from err
            self._keys = {key.key_id: key for key in key_set.keys if key.key_id}
            self._fetched_at = time.monotonic()
            log.info("oidc keys fetched", issuer=self.issuer, keys=sorted(self._keys))

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        if kid is None or kid not in self._keys:
            await self._refresh_keys()  # a rotated key, or the first token
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        key = self._keys.get(kid or "")
        if key is None:
            raise OidcError("the token is signed with a key the identity provider does not publish")
        return key

    async def verify(self, token: str) -> Identity:
        """The identity a token proves, or :class:`OidcError` saying why it proves none."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.DecodeError as err:
            raise OidcError("the bearer token is not a JWT") from err
        if str(unverified.get("iss", "")).rstrip("/") != self.issuer:
            raise OidcError(f"the token was issued by {unverified.get('iss')!r}, not by {self.issuer!r}")
        if header.get("alg") not in ALGORITHMS:
            raise OidcError(f"the token's algorithm {header.get('alg')!r} is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=unverified.get("iss"),
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise OidcError("the token has expired; sign in again") from err
        except jwt.ImmatureSignatureError as err:
            raise OidcError("the token is not valid yet") from err
        except jwt.InvalidAudienceError as err:
            raise OidcError(f"the token is not meant for this API (audience is not {self.audience!r})") from err
        except jwt.InvalidSignatureError as err:
            raise OidcError("the token's signature is invalid (altered, or not signed by the issuer)") from err
        except jwt.MissingRequiredClaimError as err:
            raise OidcError(f"the token lacks the {err.claim!r} claim") from err
        except jwt.InvalidTokenError as err:
            raise OidcError(f"the token is invalid ({type(err).__name__})") from err
        email = claims.get(self.email_claim)
        if not isinstance(email, str) or "@" not in email:
            raise OidcError(f"the token carries no email in claim {self.email_claim!r}")
        groups = claims.get(self.groups_claim, [])
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            groups = []
        return Identity(
            email=email.lower(),
            groups=tuple(str(g) for g in groups),
            subject=str(claims.get("sub", "")),
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer credential has a JWT's shape (three dot-separated parts)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts)
