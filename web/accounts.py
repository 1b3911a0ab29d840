"""Users, sessions and the audit log of the web interface, in their own SQLite file
(`store/web.sqlite`), apart from the catalog: who may look is not part of what is on file.

Passwords are hashed with Argon2id; a session is a random token of which only a hash is
stored; the audit log is append-only (triggers refuse UPDATE and DELETE).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.errors import BadInputError, NotFoundError

ROLES = ("clerk", "official", "manager")  # each role may do everything the ones before it may

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('clerk', 'official', 'manager')),
    password_hash TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_user ON audit(user);
CREATE INDEX IF NOT EXISTS audit_target ON audit(target);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

_HASHER = PasswordHasher()  # Argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so a wrong name costs as long as a
# wrong password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def may(self, role: str) -> bool:
        """True when this user's role includes `role`'s rights."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: str


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    user: str
    action: str
    target: str
    detail: dict[str, Any]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInputError(f"Unknown role {role!r}.", hint=f"Use one of: {', '.join(ROLES)}.")
    return role


class Accounts:
    """The web store. Safe to share between threads (one connection, one lock)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        with self.conn:
            self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock, self.conn:
            return self.conn.execute(sql, args).fetchall()

    # -- signing secret --------------------------------------------------------------

    def secret(self) -> str:
        """The key that signs session cookies, made once per store."""
        with self._lock, self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES ('cookie_secret', ?)",
                (secrets.token_urlsafe(48),),
            )
            return self.conn.execute(
                "SELECT value FROM settings WHERE key = 'cookie_secret'"
            ).fetchone()[0]

    # -- users -----------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str, *, replace: bool = False) -> User:
        name = name.strip()
        if not name or len(name) > 64 or any(ch.isspace() for ch in name):
            raise BadInputError(f"{name!r} is not a usable user name (1-64 chars, no spaces).")
        check_role(role)
        if len(password) < 8:
            raise BadInputError("The password is too short.", hint="Use at least 8 characters.")
        exists = self._run("SELECT 1 FROM users WHERE name = ?", (name,))
        if exists and not replace:
            raise BadInputError(
                f"The user {name!r} exists already.", hint="Add --replace to change it."
            )
        digest = _HASHER.hash(password)
        self._run(
            "INSERT INTO users (name, role, password_hash, active, created_at)"
            " VALUES (?, ?, ?, 1, ?) ON CONFLICT(name) DO UPDATE SET"
            " role = excluded.role, password_hash = excluded.password_hash, active = 1",
            (name, role, digest, _iso(_now())),
        )
        if exists:  # a changed password or role ends the sessions opened with the old one
            self._run("DELETE FROM sessions WHERE user = ?", (name,))
        return User(name, role)

    def set_active(self, name: str, active: bool) -> None:
        if not self._run("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise NotFoundError(f"No user {name!r}.", hint="List them with 'dossier users list'.")
        self._run("UPDATE users SET active = ? WHERE name = ?", (int(active), name))
        if not active:
            self._run("DELETE FROM sessions WHERE user = ?", (name,))

    def users(self) -> list[dict[str, Any]]:
        rows = self._run("SELECT name, role, active, created_at FROM users ORDER BY name")
        return [{"name": n, "role": r, "active": bool(a), "created_at": c} for n, r, a, c in rows]

    def verify(self, name: str, password: str) -> User | None:
        """The user if the name and password match an active account, else None."""
        rows = self._run(
            "SELECT role, password_hash FROM users WHERE name = ? AND active = 1", (name,)
        )
        digest = rows[0][1] if rows else _DUMMY_HASH
        try:
            _HASHER.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        if _HASHER.check_needs_rehash(digest):
            self._run(
                "UPDATE users SET password_hash = ? WHERE name = ?", (_HASHER.hash(password), name)
            )
        return User(name, rows[0][0])

    # -- sessions --------------------------------------------------------------------

    def open_session(self, user: User, hours: float) -> tuple[str, Session]:
        """A new session; returns the token for the cookie (only its hash is kept)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = _now()
        expires = _iso(now + timedelta(hours=hours))
        self._run("DELETE FROM sessions WHERE expires_at < ?", (_iso(now),))
        self._run(
            "INSERT INTO sessions (token_hash, user, csrf, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (_token_hash(token), user.name, csrf, _iso(now), expires),
        )
        return token, Session(user, csrf, expires)

    def session(self, token: str) -> Session | None:
        rows = self._run(
            "SELECT u.name, u.role, s.csrf, s.expires_at FROM sessions s"
            " JOIN users u ON u.name = s.user"
            " WHERE s.token_hash = ? AND u.active = 1 AND s.expires_at > ?",
            (_token_hash(token), _iso(_now())),
        )
        if not rows:
            return None
        name, role, csrf, expires = rows[0]
        return Session(User(name, role), csrf, expires)

    def close_session(self, token: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))

    # -- audit log -------------------------------------------------------------------

    def audit(self, user: str, action: str, target: str = "", **detail: Any) -> None:
        """Append who did what to whose records; never updated or deleted."""
        self._run(
            "INSERT INTO audit (at, user, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (
                _now().isoformat(timespec="milliseconds"),
                user,
                action,
                target,
                json.dumps(detail, ensure_ascii=False, sort_keys=True),
            ),
        )

    def audit_entries(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        user: str | None = None,
        target: str | None = None,
    ) -> tuple[int, list[AuditEntry]]:
        where, args = [], []
        if user:
            where.append("user = ?")
            args.append(user)
        if target:
            where.append("target = ?")
            args.append(target)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = self._run(f"SELECT COUNT(*) FROM audit{clause}", tuple(args))[0][0]
        rows = self._run(
            f"SELECT seq, at, user, action, target, detail FROM audit{clause}"
            " ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return total, [AuditEntry(s, a, u, ac, t, json.loads(d)) for s, a, u, ac, t, d in rows]


def accounts_path(store: Path) -> Path:
    return store / "web.sqlite"
