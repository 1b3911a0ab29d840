"""Sign-in, roles and CSRF for every route: FastAPI dependencies over `Accounts`.

A session cookie holds a random token signed with the store's secret (HttpOnly,
SameSite=Lax, Secure unless serving plain http for tests); the server keeps only the
token's hash. Forms carry the session's CSRF token; JSON calls that change something send
it in the X-CSRF-Token header."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from web.accounts import Accounts, Session

SESSION_COOKIE = "dossier_session"
LOGIN_CSRF_COOKIE = "dossier_login_csrf"


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in form, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this: 403."""

    def __init__(self, needed: str):
        super().__init__(needed)
        self.needed = needed


class CsrfFailed(Exception):
    """A state-changing request without the session's CSRF token: 403."""


@dataclass
class CookieSettings:
    secure: bool = True
    hours: float = 8.0


class Guard:
    """Turns a request's cookie into a Session, and checks roles and CSRF tokens."""

    def __init__(self, accounts: Accounts, cookies: CookieSettings):
        self.accounts = accounts
        self.cookies = cookies
        self.signer = URLSafeTimedSerializer(accounts.secret(), salt="dossier-session")

    def session_of(self, request: Request) -> Session | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            token = self.signer.loads(raw, max_age=int(self.cookies.hours * 3600))
        except BadSignature:
            return None
        return self.accounts.session(token)

    def token_of(self, request: Request) -> str | None:
        try:
            return self.signer.loads(request.cookies.get(SESSION_COOKIE, ""))
        except BadSignature:
            return None

    def cookie_value(self, token: str) -> str:
        return self.signer.dumps(token)

    def cookie_options(self) -> dict:
        return {
            "httponly": True,
            "samesite": "lax",
            "secure": self.cookies.secure,
            "path": "/",
        }

    # -- dependencies --------------------------------------------------------------

    def signed_in(self, request: Request) -> Session:
        session = self.session_of(request)
        if session is None:
            raise SignInRequired()
        request.state.session = session
        return session

    def role(self, needed: str):
        """A dependency: the session, if its user's role includes `needed`."""

        def dependency(request: Request) -> Session:
            session = self.signed_in(request)
            if not session.user.may(needed):
                raise Forbidden(needed)
            return session

        dependency.__name__ = f"requires_{needed}"
        return dependency

    @staticmethod
    def check_csrf(session: Session, token: str | None) -> None:
        if not token or not secrets.compare_digest(token, session.csrf):
            raise CsrfFailed()
