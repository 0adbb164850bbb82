"""How the app is deployed, and what a visitor may do (no gradio here: ``app.py`` calls these).

Two modes:

* **private** (the default): the full app on 127.0.0.1, upload on, per-session LLM settings on.
* **public** (``python app.py --public`` or ``FISCALQA_PUBLIC=1``): the full app needs a login
  (``FISCALQA_AUTH="user:password,…"`` or a users file, ``FISCALQA_USERS_FILE``: one
  ``user:password`` or ``user:sha256:<hex>`` a line); upload and replace are off unless
  ``--allow-upload`` / ``FISCALQA_ALLOW_UPLOAD=1``; the per-session LLM URL setting is off
  (it would let a visitor make the server call any URL); only the widget (``/widget``) and the
  ``ask`` API (``POST /api/ask``) are anonymous, both rate-limited per client and globally.

Client addresses: ``X-Forwarded-For`` is honoured only when the connection comes from a
configured trusted proxy (``--trusted-proxy`` / ``FISCALQA_TRUSTED_PROXY``: addresses or
networks, comma-separated); otherwise the peer address is the client.

Uploads: ``check_upload_paths`` accepts only regular files inside the app's own upload folder
(what Gradio wrote), within the size and page limits; a message never echoes another path.
``sweep_temp`` removes old source images, export files and uploads.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import FiscalQAError

log = logging.getLogger(__name__)

DEFAULT_PER_CLIENT = "10/minute"
DEFAULT_GLOBAL = "120/minute"
DEFAULT_MAX_UPLOAD_MB = 100.0
DEFAULT_MAX_PAGES = 1000
DEFAULT_TEMP_MAX_AGE = 1800.0
"""Seconds after which source images, exports and leftover uploads are removed."""
UPLOAD_SUFFIXES = (".pdf", ".txt")


class UploadRejectedError(FiscalQAError):
    """A path handed to the upload handler that is not an acceptable uploaded file."""


class ConfigError(FiscalQAError):
    """A deployment setting that cannot work (public mode without users, a bad proxy address)."""


def _flag(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class DeployConfig:
    """What the server exposes and to whom."""

    public: bool = False
    users: list[tuple[str, str]] = field(default_factory=list)
    """(user, password or 'sha256:<hex>') pairs for the full app's login (public mode)."""
    allow_upload: bool | None = None
    """None: on in private mode, off in public mode."""
    llm_settings: bool | None = None
    """Per-session LLM URL setting. None: on in private mode; public mode forces it off."""
    trusted_proxies: list[str] = field(default_factory=list)
    per_client: str = DEFAULT_PER_CLIENT
    """Rate limit per client address, in ``limits`` notation ("10/minute", "100/hour")."""
    global_rate: str = DEFAULT_GLOBAL
    """Rate limit over all clients together."""
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pages: int = DEFAULT_MAX_PAGES
    temp_max_age: float = DEFAULT_TEMP_MAX_AGE

    @property
    def upload_enabled(self) -> bool:
        return (not self.public) if self.allow_upload is None else bool(self.allow_upload)

    @property
    def llm_settings_enabled(self) -> bool:
        return False if self.public else (True if self.llm_settings is None else bool(self.llm_settings))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> DeployConfig:
        e = os.environ if env is None else env
        users = parse_users(e.get("FISCALQA_AUTH", ""))
        if e.get("FISCALQA_USERS_FILE"):
            users += read_users_file(Path(e["FISCALQA_USERS_FILE"]))
        cfg = cls(
            public=_flag(e.get("FISCALQA_PUBLIC")),
            users=users,
            allow_upload=_flag(e["FISCALQA_ALLOW_UPLOAD"]) if "FISCALQA_ALLOW_UPLOAD" in e else None,
            trusted_proxies=[p.strip() for p in e.get("FISCALQA_TRUSTED_PROXY", "").split(",") if p.strip()],
            per_client=e.get("FISCALQA_RATE_PER_CLIENT", DEFAULT_PER_CLIENT),
            global_rate=e.get("FISCALQA_RATE_GLOBAL", DEFAULT_GLOBAL),
            max_upload_mb=float(e.get("FISCALQA_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)),
            max_pages=int(e.get("FISCALQA_MAX_PAGES", DEFAULT_MAX_PAGES)),
        )
        for k, v in overrides.items():
            if v is None:
                continue
            if k == "users":
                cfg.users = [*cfg.users, *v]
            elif k == "trusted_proxies":
                cfg.trusted_proxies = [*cfg.trusted_proxies, *v]
            else:
                setattr(cfg, k, v)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.public and not self.users:
            raise ConfigError(
                "public mode needs at least one login for the full app: set FISCALQA_AUTH=user:password or "
                "FISCALQA_USERS_FILE (one user:password or user:sha256:<hex> a line), or pass --users-file"
            )
        for p in self.trusted_proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError as e:
                raise ConfigError(f"--trusted-proxy {p!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from e
        from limits import parse

        for name, spec in (("per-client", self.per_client), ("global", self.global_rate)):
            try:
                parse(spec)
            except ValueError as e:
                raise ConfigError(f"the {name} rate limit {spec!r} is not like '10/minute' or '100/hour'") from e

    def auth(self) -> Callable[[str, str], bool] | None:
        """Gradio's ``auth`` callable (None in private mode)."""
        if not self.public:
            return None
        users = dict(self.users)

        def check(username: str, password: str) -> bool:
            want = users.get(username or "")
            return want is not None and password_matches(password or "", want)

        return check


def parse_users(text: str) -> list[tuple[str, str]]:
    """``user:password,user2:sha256:<hex>`` → pairs."""
    out = []
    for part in (text or "").replace("\n", ",").split(","):
        part = part.strip()
        if not part or part.startswith("#"):
            continue
        user, sep, pw = part.partition(":")
        if not sep or not user or not pw:
            raise ConfigError(f"a login must be user:password (got {user or part[:10]!r}…)")
        out.append((user, pw))
    return out


def read_users_file(path: Path) -> list[tuple[str, str]]:
    try:
        return parse_users(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read the users file {path}: {e.strerror}") from e


def password_matches(given: str, stored: str) -> bool:
    """Compare in constant time; ``stored`` may be ``sha256:<hex>``."""
    if stored.startswith("sha256:"):
        digest = hashlib.sha256(given.encode()).hexdigest()
        return hmac.compare_digest(digest, stored.removeprefix("sha256:").lower())
    return hmac.compare_digest(given.encode(), stored.encode())


# --------------------------------------------------------------------------- client address


def _in(addr: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(peer: str | None, headers: Mapping[str, str] | None, trusted: Iterable[str]) -> str:
    """The client's address: the peer, or — only when the peer is a trusted proxy — the last
    untrusted address of ``X-Forwarded-For`` (addresses added by the proxies themselves are skipped)."""
    peer = peer or "unknown"
    nets = [ipaddress.ip_network(t, strict=False) for t in trusted]
    if not nets or not _in(peer, nets):
        return peer
    xff = ""
    for k, v in (headers or {}).items():
        if k.lower() == "x-forwarded-for":
            xff = v
            break
    chain = [a.strip() for a in xff.split(",") if a.strip()]
    for addr in reversed(chain):
        if not _in(addr, nets):
            try:
                return str(ipaddress.ip_address(addr))
            except ValueError:
                return peer  # a forged, unparsable header: fall back to the proxy itself
    return peer


# --------------------------------------------------------------------------- rate limits


class RateLimits:
    """Per-client and global limits (``limits``' moving window, in memory), one pair per scope (widget, api)."""

    def __init__(self, per_client: str = DEFAULT_PER_CLIENT, global_rate: str = DEFAULT_GLOBAL) -> None:
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.per_client = parse(per_client)
        self.global_rate = parse(global_rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, scope: str, client: str) -> float:
        """Record one request; 0.0 when allowed, else seconds until the client may ask again."""
        lim = self._limiter
        if not lim.test(self.global_rate, scope, "*"):
            return self._wait(self.global_rate, scope, "*")
        if not lim.hit(self.per_client, scope, client):
            return self._wait(self.per_client, scope, client)
        lim.hit(self.global_rate, scope, "*")
        return 0.0

    def _wait(self, item: Any, *ids: str) -> float:
        stats = self._limiter.get_window_stats(item, *ids)
        return max(1.0, stats.reset_time - time.time())

    def message(self, wait: float, lang: str) -> str:
        n, per = self.per_client.amount, self.per_client.GRANULARITY.name
        if lang == "zh":
            return f"提问太频繁了（每个访客每{_zh_per(per)}最多 {n} 次），请 {wait:.0f} 秒后再试。"
        return f"Too many questions (at most {n} per {per} per visitor); please try again in {wait:.0f} s."


def _zh_per(granularity: str) -> str:
    return {"second": "秒", "minute": "分钟", "hour": "小时", "day": "天"}.get(granularity, granularity)


# --------------------------------------------------------------------------- uploads


def upload_roots() -> list[Path]:
    """Folders Gradio writes uploads into (``GRADIO_TEMP_DIR`` or <tmp>/gradio)."""
    root = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    return [Path(root).resolve()]


def check_upload_paths(
    paths: Iterable[Any], roots: Sequence[Path] | None = None, *, max_mb: float = DEFAULT_MAX_UPLOAD_MB, max_pages: int = DEFAULT_MAX_PAGES
) -> list[Path]:
    """The given paths when each is a file this app received as an upload, else ``UploadRejectedError``.

    Messages name only the uploaded file's own name, never a server path, and say the same
    whether or not a foreign path exists.
    """
    from assistant.ingest import page_count

    roots = [Path(r).resolve() for r in (roots or upload_roots())]
    out: list[Path] = []
    for raw in paths:
        p = raw if isinstance(raw, (str, os.PathLike)) else getattr(raw, "path", None) or getattr(raw, "name", None)
        if not isinstance(p, (str, os.PathLike)):
            raise UploadRejectedError("an upload was not a file; upload the report again")
        path = Path(p)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            real = None
        inside = real is not None and any(real.is_relative_to(r) for r in roots) and real.is_file() and not path.is_symlink()
        if not inside:
            log.warning("refused an upload path outside the upload folder")
            raise UploadRejectedError("only files uploaded here can be ingested; upload the report again")
        assert real is not None
        name = real.name
        if real.suffix.lower() not in UPLOAD_SUFFIXES:
            raise UploadRejectedError(f"{name}: only PDF or text reports (.pdf, .txt) can be ingested")
        size = real.stat().st_size
        if size > max_mb * 1e6:
            raise UploadRejectedError(f"{name}: the file is {size / 1e6:,.0f} MB; the limit per upload is {max_mb:,.0f} MB")
        pages = page_count(real)
        if pages > max_pages:
            raise UploadRejectedError(f"{name}: the file has {pages:,} pages; the limit per upload is {max_pages:,}")
        out.append(real)
    return out


def remove_uploads(paths: Iterable[Path], roots: Sequence[Path] | None = None) -> None:
    """Delete uploaded files once ingested (the index keeps its own copy of each PDF)."""
    roots = [Path(r).resolve() for r in (roots or upload_roots())]
    for p in paths:
        try:
            real = Path(p).resolve()
            if any(real.is_relative_to(r) for r in roots):
                real.unlink(missing_ok=True)
                parent = real.parent
                if parent not in roots and not any(parent.iterdir()):
                    parent.rmdir()
        except OSError as e:
            log.info("could not remove an upload: %s", e)


# --------------------------------------------------------------------------- temporary files

TEMP_PATTERNS = ("fiscalqa-src-*", "fiscalqa-export/*")
_sweep_lock = threading.Lock()
_last_sweep = [0.0]


def sweep_temp(max_age: float = DEFAULT_TEMP_MAX_AGE, *, now: float | None = None, tmp: Path | None = None) -> int:
    """Remove source images and export folders older than ``max_age`` seconds; returns how many."""
    now = time.time() if now is None else now
    base = tmp or Path(tempfile.gettempdir())
    n = 0
    for pattern in TEMP_PATTERNS:
        for p in base.glob(pattern):
            try:
                if now - p.stat().st_mtime < max_age:
                    continue
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                n += 1
            except OSError:
                continue
    return n


def maybe_sweep(max_age: float = DEFAULT_TEMP_MAX_AGE, every: float = 60.0) -> None:
    """``sweep_temp`` at most once per ``every`` seconds (cheap to call on each request)."""
    now = time.monotonic()
    if now - _last_sweep[0] < every or not _sweep_lock.acquire(blocking=False):
        return
    try:
        _last_sweep[0] = now
        removed = sweep_temp(max_age)
        if removed:
            log.info("removed %d old temporary files", removed)
    finally:
        _sweep_lock.release()


class ScopedLimiter:
    """``RateLimits`` for one scope with the interface of ``appstate.RateLimiter`` (``check(key)``, ``per_minute``)."""

    def __init__(self, limits: RateLimits, scope: str) -> None:
        self.limits = limits
        self.scope = scope
        self.per_minute = int(limits.per_client.amount)

    def check(self, key: str, now: float | None = None) -> float:
        return self.limits.check(self.scope, key)
