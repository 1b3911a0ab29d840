"""The FastAPI application behind `dossier serve`: server-rendered pages for officials and
a JSON API under /api, both over the `Index` protocol (the catalog opened per worker
thread) and the web store (users, sessions, audit log).

Every route needs a session; who searched and whose records were viewed goes to the
append-only audit log; the same JSON contracts as the CLI are returned by the API."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Header, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel

from indexer.base import SearchQuery, SearchResult
from pipeline import reuse as policy
from pipeline.catalog import open_index
from pipeline.config import Config
from pipeline.errors import BadInputError, DossierError, NotFoundError
from pipeline.model import Document
from pipeline.report import GROUPINGS, render_chart, report_for
from pipeline.textnorm import mask_id
from web import render
from web.accounts import Accounts, AuditEntry, Session, accounts_path
from web.correct import apply_correction
from web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CookieSettings,
    CsrfFailed,
    Forbidden,
    Guard,
    SignInRequired,
)

PER_PAGE = 20
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DOWNLOADS = {"pdf": "application/pdf", "text": "text/plain; charset=utf-8"}

# Pages hold personal data: not cached, not framed, no scripts or styles from elsewhere,
# and no citizen ID leaking to other sites through the Referer header.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Login(BaseModel):
    name: str
    password: str


class FieldCorrection(BaseModel):
    value: str


def create_app(cfg: Config, *, secure_cookies: bool = True, session_hours: float = 8.0) -> FastAPI:
    """The application over the store of `cfg`."""
    accounts = Accounts(accounts_path(cfg.store))
    guard = Guard(accounts, CookieSettings(secure=secure_cookies, hours=session_hours))
    indexes = _IndexPerThread(cfg)
    templates = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters["snippet"] = render.safe_highlight
    templates.filters["masked"] = mask_id

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        indexes.close_all()
        accounts.close()

    app = FastAPI(
        lifespan=lifespan,
        title="dossier",
        summary="Search prior records, see where each field was read, correct it, audit.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served below, behind sign-in like everything else
    )
    app.state.accounts = accounts
    app.state.indexes = indexes
    app.mount("/static", StaticFiles(packages=[("web", "static")]), name="static")

    signed_in = Depends(guard.signed_in)
    official = Depends(guard.role("official"))
    manager = Depends(guard.role("manager"))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Cache-Control" and request.url.path.startswith("/static/"):
                continue
            response.headers.setdefault(name, value)
        return response

    def page(request: Request, template: str, session: Session | None, status: int = 200, **ctx):
        html = templates.get_template(template).render(
            request=request, session=session, user=session.user if session else None, **ctx
        )
        return HTMLResponse(html, status_code=status)

    # -- errors ----------------------------------------------------------------------

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _exc: SignInRequired) -> Response:
        if wants_json(request):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        message = f"This needs the {exc.needed} role."
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=403)
        session = guard.session_of(request)
        return page(
            request, "error.html", session, status=403, title="Not allowed", message=message
        )

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        message = "The form expired or did not come from this site; reload the page and retry."
        if wants_json(request):
            return JSONResponse({"error": "missing or wrong X-CSRF-Token"}, status_code=403)
        session = guard.session_of(request)
        return page(request, "error.html", session, status=403, title="Refused", message=message)

    @app.exception_handler(DossierError)
    async def dossier_error(request: Request, exc: DossierError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 400
        if wants_json(request):
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)
        session = guard.session_of(request)
        return page(
            request, "error.html", session, status=status, title="Cannot do that", message=str(exc)
        )

    # -- sign-in -------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        token = _random_token()
        response = page(request, "login.html", None, next=_local(next), login_csrf=token)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, **guard.cookie_options(), max_age=3600)
        return response

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        name: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf_token: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        # Login CSRF: the form's token must equal the one in this browser's cookie.
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not _same(expected, csrf_token):
            raise CsrfFailed()
        user = accounts.verify(name.strip(), password)
        if user is None:
            token = _random_token()
            response = page(
                request,
                "login.html",
                None,
                status=401,
                next=_local(next),
                login_csrf=token,
                error="Wrong name or password.",
                name=name,
            )
            response.set_cookie(LOGIN_CSRF_COOKIE, token, **guard.cookie_options(), max_age=3600)
            return response
        token, _session = accounts.open_session(user, guard.cookies.hours)
        accounts.audit(user.name, "sign_in")
        response = RedirectResponse(_local(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, guard.cookie_value(token), **guard.cookie_options())
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(
        request: Request, session: Session = signed_in, csrf_token: Annotated[str, Form()] = ""
    ) -> Response:
        guard.check_csrf(session, csrf_token)
        token = guard.token_of(request)
        if token:
            accounts.close_session(token)
        accounts.audit(session.user.name, "sign_out")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- search --------------------------------------------------------------------------

    def run_search(session: Session, query: SearchQuery) -> SearchResult:
        result = indexes.get().search(query)
        accounts.audit(
            session.user.name,
            "search",
            query.citizen_id or "",
            q=query.text,
            doc_type=query.doc_type,
            date_from=query.date_from,
            date_to=query.date_to,
            office=query.office,
            offset=query.offset,
            total=result.total,
        )
        return result

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request,
        session: Session = signed_in,
        q: str = "",
        type: str = "",
        date_from: str = "",
        date_to: str = "",
        office: str = "",
        citizen_id: str = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    ) -> Response:
        form = {
            "q": q,
            "type": type,
            "date_from": date_from,
            "date_to": date_to,
            "office": office,
            "citizen_id": citizen_id,
        }
        asked = any(v.strip() for v in form.values())
        result, error = None, None
        if asked:
            try:
                query = _search_query(form, limit=PER_PAGE, offset=(page_no - 1) * PER_PAGE)
                result = run_search(session, query)
            except BadInputError as exc:
                error = str(exc)
        pages = -(-result.total // PER_PAGE) if result else 0
        return page(
            request,
            "search.html",
            session,
            form=form,
            result=result,
            error=error,
            page_no=page_no,
            pages=pages,
            page_link=lambda n: "/?" + urlencode({**form, "page": n}),
            facet_link=lambda key, value: "/?" + urlencode({**form, key: value, "page": 1}),
            doc_types=sorted(indexes.get().stats()["by_doc_type"]) if not asked else [],
        )

    @app.get("/api/search", tags=["search"])
    def api_search(
        session: Session = signed_in,
        q: str = "",
        type: str = "",
        date_from: str = "",
        date_to: str = "",
        office: str = "",
        citizen_id: str = "",
        limit: Annotated[int, Query(ge=1, le=200)] = PER_PAGE,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Diacritic-insensitive search with filters and facets (`dossier search --json`)."""
        from cli import search_json

        form = {
            "q": q,
            "type": type,
            "date_from": date_from,
            "date_to": date_to,
            "office": office,
            "citizen_id": citizen_id,
        }
        result = run_search(session, _search_query(form, limit=limit, offset=offset))
        return search_json(result)

    # -- documents -----------------------------------------------------------------------

    def load_document(doc_id: str) -> Document:
        doc = indexes.get().get_document(doc_id)
        if doc is None:
            raise NotFoundError(f"No document with id {doc_id!r}.")
        return doc

    def corrections_of(doc_id: str) -> list[dict[str, Any]]:
        history = getattr(indexes.get(), "corrections", None)
        return history(doc_id) if history else []

    def reuse_history(doc_id: str) -> list[dict[str, Any]]:
        """Reuse-log entries where this document was submitted or reused (the catalog's
        tamper-evident log)."""
        return [e.__dict__ for e in indexes.get().reuse_log(document=doc_id)]

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: str, session: Session = signed_in) -> Response:
        doc = load_document(doc_id)
        accounts.audit(session.user.name, "view_document", doc.person_id or "", document=doc.id)
        return page(
            request,
            "document.html",
            session,
            doc=doc,
            page_views=_page_views(doc),
            downloads=[k for k in DOWNLOADS if render.inside(cfg.store, doc.outputs.get(k))],
            corrections=corrections_of(doc.id),
            reuse=reuse_history(doc.id),
            message=request.query_params.get("message"),
        )

    @app.get("/api/documents/{doc_id}", tags=["documents"])
    def api_document(doc_id: str, session: Session = signed_in) -> dict[str, Any]:
        """One document as `dossier show --json`, plus its correction and reuse history."""
        from cli import document_json

        doc = load_document(doc_id)
        accounts.audit(session.user.name, "view_document", doc.person_id or "", document=doc.id)
        return {
            **document_json(doc),
            "corrections": corrections_of(doc.id),
            "reuse_history": reuse_history(doc.id),
        }

    @app.get("/documents/{doc_id}/pages/{number}.png", tags=["documents"])
    def page_png(doc_id: str, number: int, session: Session = signed_in) -> Response:
        """Page `number` (1-based) rendered from the stored original."""
        doc = load_document(doc_id)
        try:
            data = render.page_image(cfg.store, doc, number - 1)
        except LookupError as exc:
            raise NotFoundError(f"No image for page {number}: {exc}.") from None
        return Response(data, media_type="image/png", headers={"Cache-Control": "private"})

    @app.get("/documents/{doc_id}/files/{kind}", tags=["documents"])
    def download(doc_id: str, kind: str, session: Session = signed_in) -> Response:
        """The searchable PDF (`pdf`) or the text (`text`), only from inside the store."""
        if kind not in DOWNLOADS:
            raise NotFoundError(f"No file kind {kind!r}; use pdf or text.")
        doc = load_document(doc_id)
        path = render.inside(cfg.store, doc.outputs.get(kind))
        if path is None:
            raise NotFoundError(f"The {kind} file of {doc.id} is not in the store.")
        accounts.audit(
            session.user.name, "download", doc.person_id or "", document=doc.id, kind=kind
        )
        suffix = ".pdf" if kind == "pdf" else ".txt"
        return FileResponse(path, media_type=DOWNLOADS[kind], filename=f"{doc.id}{suffix}")

    @app.post("/documents/{doc_id}/fields/{name}", include_in_schema=False)
    def correct_form(
        doc_id: str,
        name: str,
        value: Annotated[str, Form()],
        csrf_token: Annotated[str, Form()] = "",
        session: Session = official,
    ) -> Response:
        guard.check_csrf(session, csrf_token)
        doc = load_document(doc_id)
        try:
            done = apply_correction(indexes.get(), doc, name, value, session.user.name)
        except BadInputError as exc:
            query = urlencode({"message": f"Not saved: {exc}"})
            return RedirectResponse(f"/documents/{doc.id}?{query}#fields", status_code=303)
        accounts.audit(
            session.user.name,
            "correct_field",
            doc.person_id or "",
            document=doc.id,
            field=name,
            old=done.old,
            new=done.value,
        )
        note = f"Saved {name} = {done.value}" + ("" if done.valid else f" ({done.reason})")
        query = urlencode({"message": note})
        return RedirectResponse(f"/documents/{doc.id}?{query}#fields", status_code=303)

    @app.post("/api/documents/{doc_id}/fields/{name}", tags=["documents"])
    def api_correct(
        doc_id: str,
        name: str,
        body: FieldCorrection,
        x_csrf_token: Annotated[str, Header()] = "",
        session: Session = official,
    ) -> dict[str, Any]:
        """Correct a field (official or manager). Send the session's CSRF token
        (from /api/me) in the X-CSRF-Token header."""
        guard.check_csrf(session, x_csrf_token)
        doc = load_document(doc_id)
        done = apply_correction(indexes.get(), doc, name, body.value, session.user.name)
        accounts.audit(
            session.user.name,
            "correct_field",
            doc.person_id or "",
            document=doc.id,
            field=name,
            old=done.old,
            new=done.value,
        )
        return done.__dict__

    # -- citizens ------------------------------------------------------------------------

    def citizen_records(session: Session, citizen_id: str, procedure: str) -> dict[str, Any]:
        """`dossier reuse --json` for one person: valid documents on file, and for a
        procedure what is on file and what must still be brought (pipeline/reuse.py)."""
        citizen = policy.check_citizen_id(citizen_id)
        proc = policy.procedure(procedure.strip()) if procedure.strip() else None
        documents = indexes.get().documents_of_person(citizen)
        result = policy.on_file(documents, citizen, proc, dt.date.today())
        accounts.audit(
            session.user.name,
            "view_citizen",
            citizen,
            procedure=proc.code if proc else None,
            documents=len(result.documents),
        )
        return {
            "citizen_id": result.citizen_id,
            "documents": result.documents,
            "set_aside": result.set_aside,
            "procedure": proc.code if proc else None,
            "procedure_name": proc.name if proc else None,
            "on_file": result.have,
            "missing": result.missing,
        }

    @app.get("/citizens", response_class=HTMLResponse, include_in_schema=False)
    def citizen_page(
        request: Request, session: Session = signed_in, id: str = "", procedure: str = ""
    ) -> Response:
        records, error = None, None
        if id.strip():
            try:
                records = citizen_records(session, id, procedure)
            except DossierError as exc:
                error = str(exc)
        return page(
            request,
            "citizen.html",
            session,
            records=records,
            error=error,
            procedure=procedure,
            procedures=policy.load_procedures().values(),
        )

    @app.get("/api/citizens/{citizen_id}", tags=["citizens"])
    def api_citizen(
        citizen_id: str, session: Session = signed_in, procedure: str = ""
    ) -> dict[str, Any]:
        """What is on file for this personal ID number."""
        return citizen_records(session, citizen_id, procedure)

    # -- report --------------------------------------------------------------------------

    def build(since: str, until: str, by: str) -> Any:
        """`dossier report` over the catalog: measured times with and without reuse
        (report_for refuses malformed dates and groupings with a BadInputError)."""
        return report_for(indexes.get(), since=since or None, until=until or None, by=by)

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_page(
        request: Request,
        session: Session = manager,
        since: str = "",
        until: str = "",
        by: str = "day",
    ) -> Response:
        form = {"since": since, "until": until, "by": by}
        report, error = None, None
        try:
            report = build(since, until, by)
        except BadInputError as exc:
            error = str(exc)
        return page(
            request,
            "report.html",
            session,
            report=report,
            error=error,
            form=form,
            groupings=GROUPINGS,
            chart_link="/report/chart.png?" + urlencode(form),
            stats=indexes.get().stats(),
        )

    @app.get("/report/chart.png", tags=["report"])
    def report_chart(
        session: Session = manager, since: str = "", until: str = "", by: str = "day"
    ) -> Response:
        """The report's chart (the same plot as `dossier report --chart FILE.png`)."""
        report = build(since, until, by)
        if report.empty:
            raise NotFoundError("No documents were processed in this period.")
        with tempfile.TemporaryDirectory() as folder:
            data = render_chart(report, Path(folder) / "chart.png").read_bytes()
        return Response(data, media_type="image/png")

    @app.get("/api/report", tags=["report"])
    def api_report(
        session: Session = manager, since: str = "", until: str = "", by: str = "day"
    ) -> dict[str, Any]:
        """Processing time with and without reuse (`dossier report --json`, manager)."""
        return build(since, until, by).to_json()

    # -- audit ---------------------------------------------------------------------------

    def audit_rows(user: str, target: str, page_no: int) -> tuple[int, list[AuditEntry]]:
        return accounts.audit_entries(
            limit=50, offset=(page_no - 1) * 50, user=user or None, target=target or None
        )

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(
        request: Request,
        session: Session = manager,
        user: str = "",
        target: str = "",
        page_no: Annotated[int, Query(alias="page", ge=1)] = 1,
    ) -> Response:
        total, entries = audit_rows(user, target, page_no)
        form = {"user": user, "target": target}
        return page(
            request,
            "audit.html",
            session,
            total=total,
            entries=entries,
            form=form,
            page_no=page_no,
            pages=-(-total // 50),
            page_link=lambda n: "/audit?" + urlencode({**form, "page": n}),
        )

    @app.get("/api/audit", tags=["audit"])
    def api_audit(
        session: Session = manager,
        user: str = "",
        target: str = "",
        page_no: Annotated[int, Query(alias="page", ge=1)] = 1,
    ) -> dict[str, Any]:
        """The audit log, newest first, 50 a page (manager)."""
        total, entries = audit_rows(user, target, page_no)
        return {"total": total, "entries": [e.__dict__ for e in entries]}

    # -- session and description ---------------------------------------------------------

    @app.post("/api/login", tags=["session"])
    def api_login(body: Login) -> Response:
        """Sign in with JSON; sets the session cookie and returns the CSRF token for
        state-changing calls. (Browsers cannot send a JSON body across sites without
        CORS, which this server does not allow.)"""
        user = accounts.verify(body.name.strip(), body.password)
        if user is None:
            return JSONResponse({"error": "wrong name or password"}, status_code=401)
        token, session = accounts.open_session(user, guard.cookies.hours)
        accounts.audit(user.name, "sign_in", api=True)
        response = JSONResponse({"name": user.name, "role": user.role, "csrf_token": session.csrf})
        response.set_cookie(SESSION_COOKIE, guard.cookie_value(token), **guard.cookie_options())
        return response

    @app.get("/api/me", tags=["session"])
    def api_me(session: Session = signed_in) -> dict[str, Any]:
        """Who is signed in, the role, and the CSRF token."""
        return {
            "name": session.user.name,
            "role": session.user.role,
            "csrf_token": session.csrf,
            "expires_at": session.expires_at,
        }

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(session: Session = signed_in) -> dict[str, Any]:
        return app.openapi()

    return app


# -- helpers ---------------------------------------------------------------------------


class _IndexPerThread:
    """One catalog connection per worker thread (SQLite connections stay in their
    thread); opened on first use."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.local = threading.local()
        self.opened: list[Any] = []
        self.lock = threading.Lock()

    def get(self) -> Any:
        index = getattr(self.local, "index", None)
        if index is None:
            index = self.local.index = open_index(self.cfg)
            with self.lock:
                self.opened.append(index)
        return index

    def close_all(self) -> None:
        with self.lock:
            for index in self.opened:
                # Another thread's connection may refuse; the process is ending anyway.
                with contextlib.suppress(Exception):
                    index.close()
            self.opened.clear()


def _search_query(form: dict[str, str], *, limit: int, offset: int) -> SearchQuery:
    """The search form's values as a SearchQuery; bad dates or IDs are the user's to fix."""
    for key in ("date_from", "date_to"):
        if form[key] and not _ISO_DATE.match(form[key]):
            raise BadInputError(f"{form[key]!r} is not a date; use YYYY-MM-DD.")
    citizen_id = form["citizen_id"].strip()
    if citizen_id and not citizen_id.isdigit():
        raise BadInputError("A citizen ID is digits only.")
    return SearchQuery(
        text=form["q"][:500],
        doc_type=form["type"].strip() or None,
        citizen_id=citizen_id or None,
        date_from=form["date_from"] or None,
        date_to=form["date_to"] or None,
        office=form["office"].strip() or None,
        limit=limit,
        offset=offset,
    )


def _page_views(doc: Document) -> list[dict[str, Any]]:
    """Per page: its size in original pixels and the fields read on it with their boxes
    (the overlay's viewBox is the original page, so boxes need no scaling)."""
    views = []
    for position, page_ in enumerate(doc.pages):
        boxes = [
            {"number": i, "field": f}
            for i, f in enumerate(doc.fields)
            if f.page == position and f.bbox is not None
        ]
        views.append(
            {"number": position + 1, "width": page_.width, "height": page_.height, "boxes": boxes}
        )
    return views


def _local(target: str) -> str:
    """Only same-site paths after sign-in (no open redirect to another host)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _random_token() -> str:
    return secrets.token_urlsafe(32)


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


def serve(cfg: Config, host: str, port: int, *, secure_cookies: bool = True) -> None:
    """Run the application with uvicorn, ID numbers masked in its log lines."""
    import uvicorn

    app = create_app(cfg, secure_cookies=secure_cookies)
    uvicorn.run(app, host=host, port=port, log_config=render.uvicorn_log_config())
