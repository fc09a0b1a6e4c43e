"""The one settings object, read from the environment at start-up.

Nothing else in fairdrop reads ``os.environ``: every process (web, worker,
clock, demo) builds a :class:`Settings` once and passes it down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from fairdrop.receipts import receipt_key_from
from fairdrop.setting_values import RATE_LIMIT_OFF as RATE_LIMIT_OFF
from fairdrop.setting_values import SettingsError as SettingsError
from fairdrop.setting_values import (
    beacon_url_from,
    metrics_dir_from,
    payment_provider_from,
    trusted_proxies_from,
)
from fairdrop.setting_values import parse_rate_limit as parse_rate_limit

N = TypeVar("N", int, float)


def _number(env: Mapping[str, str], name: str, default: N, parse: type[N], minimum: N) -> N:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError as exc:
        kind = "whole number" if parse is int else "number"
        raise SettingsError(f"{name} must be a {kind}, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return _number(env, name, default, int, minimum)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, 0.001)


# How fairdrop talks to the SMTP server; the first is the default.
SMTP_SECURITY = ("starttls", "tls", "none")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


# Proof of work on join: the ALTCHA maxnumber (the page tries up to that many
# SHA-256 hashes, half of them on average). Headless Chromium here hashes at
# about 5.6 us each (python -m loadtests.pow_bench), so the default's median
# is 0.3 s here and, at a phone's 4x slower, about 1.2 s (README "Proof of work").
POW_DEFAULT = 100_000
# A phone's unlucky worst case at the most is about 2 minutes, inside a
# challenge's 10 (web/proof_of_work.py CHALLENGE_SECONDS).
POW_MAX = 5_000_000


def _pow_difficulty(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default, minimum=0)
    if value > POW_MAX:
        raise SettingsError(f"{name} must be at most {POW_MAX}, got {value}")
    return value


# Rate limits (web/rate_limits.py), each a Settings field in the limits library's
# notation ("300/minute", "10 per 30 seconds") or "off", read from
# FAIRDROP_<FIELD IN CAPITALS>. Their defaults, and why, are in the README
# ("How the rate limits' defaults were chosen").
RATE_LIMITS = (
    "limit_entrants_per_address",
    "limit_join_per_address",
    "limit_join_per_fan",
    "limit_sign_in_per_address",
    "limit_connect_per_address",
    "limit_connect_per_fan",
    "limit_hold_per_address",
    "limit_hold_per_fan",
    "limit_presale_hold_per_address",
    "limit_presale_hold_per_fan",
    "limit_pay_per_address",
    "limit_pay_per_fan",
    "limit_release_per_address",
    "limit_release_per_fan",
)


def _rate_limit(env: Mapping[str, str], field_name: str, default: str) -> str:
    name = f"FAIRDROP_{field_name.upper()}"
    raw = (env.get(name) or default).strip()
    parse_rate_limit(name, raw)
    return raw


# drand's "quicknet" chain (https://drand.love), the beacon buffer/beacon.py
# checks by default: its relay URL names the chain by its hash.
QUICKNET_URL = (
    "https://api.drand.sh/52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with defaults that make a first run easy."""

    # None means "embedded default": a private redis-server on loopback.
    redis_url: str | None = None
    # REDIS_URL names one node of a Redis Cluster (the sale state), not a lone server.
    redis_cluster: bool = False
    # RQ's own Redis: RQ's queues and registries span many keys in many slots
    # and its workers block on several lists at once, which a cluster refuses.
    # None means REDIS_URL's server (not allowed with a cluster).
    rq_redis_url: str | None = None
    # None means "embedded default": SQLite in ``data_dir``.
    database_url: str | None = None
    data_dir: Path = Path(".fairdrop")
    # Signs fan cookies and admission tokens. Empty means the process makes a
    # random one, which only works when one process signs and checks.
    secret_key: str = field(default="", repr=False)
    receipt_key: str = field(default="", repr=False)  # Ed25519 seed: fairdrop/receipts.py
    organiser_token: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    web_workers: int = 1
    rq_queue: str = "fairdrop-purchases"
    clock_tick_seconds: float = 0.2
    # Every socket hears from the server at least this often.
    heartbeat_seconds: float = 2.0
    # The clock rebuilds sales Redis lost (purchase/restore.py) once they are
    # this old: the organiser API writes the database a moment before Redis.
    restore_grace_seconds: float = 30.0
    max_body_bytes: int = 16_384
    max_ws_message_bytes: int = 1_024
    max_ws_messages_per_second: int = 10
    # Slow clients (README "Running behind nginx with TLS"): each request's
    # head (request line and headers) must arrive within head_timeout_seconds
    # and be at most max_head_bytes (web/slow_clients.py); a body read by the
    # app must arrive within body_timeout_seconds (web/validation.py read_body).
    head_timeout_seconds: float = 10.0
    max_head_bytes: int = 32_768
    body_timeout_seconds: float = 30.0
    # uvicorn's own: an idle keep-alive connection closes after this long;
    # connections and websockets one process holds before new requests get
    # 503 (0: no cap); how long a stopping process lets requests finish.
    keep_alive_seconds: int = 30
    limit_concurrency: int = 0
    graceful_shutdown_seconds: int = 10
    cookie_secure: bool = False
    # How long a fan's session (the signed cookie naming who signed in) lasts.
    session_hours: int = 720
    # How long an email sign-in link and its six-digit code work.
    sign_in_minutes: int = 10
    # "local" (instant, no money moves) or "stripe"; stripe is the default
    # once STRIPE_SECRET_KEY is set.
    payment_provider: str = "local"
    stripe_secret_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    # Public by design: the fan's page hands it to Stripe.js.
    stripe_publishable_key: str = ""
    # Empty: Stripe itself. Tests and `demo --payments localstripe` point it at localstripe.
    stripe_api_base: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # Order confirmation emails; an empty host turns them off.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # one of SMTP_SECURITY
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    email_from: str = "fairdrop@localhost"
    # Where fans reach this site, for links in emails; empty: http://host:port.
    public_url: str = ""
    # "Sign in with ..." for login sales: any OpenID Connect provider's discovery
    # document (Google's: https://accounts.google.com/.well-known/openid-configuration).
    oidc_discovery_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_name: str = "your account"  # the provider's name on the button
    # Proof of work on join (web/proof_of_work.py): the ALTCHA maxnumber a new
    # open sale gets when the organiser names none; 0 asks no proof.
    pow_default: int = POW_DEFAULT
    # Proxies whose X-Forwarded-For is believed (web/client_address.py): IP
    # addresses and CIDR blocks. Empty: the peer is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Rate limits (RATE_LIMITS above; web/rate_limits.py). Per address: every
    # fan behind one network address (a campus, a carrier's NAT) shares it.
    # Per fan: one entrant of one sale. A join counts per address only when it
    # makes a new session (a new fan), per fan otherwise (a reload).
    # New anonymous entrants one address may place in a sale (join.lua): the
    # draw's share of an address, so a script on a few addresses cannot fill it.
    limit_entrants_per_address: str = "1 per 6 seconds"
    limit_join_per_address: str = "300/minute"
    limit_join_per_fan: str = "30/minute"
    limit_sign_in_per_address: str = "600/minute"
    limit_connect_per_address: str = "600/minute"
    limit_connect_per_fan: str = "30/minute"
    limit_hold_per_address: str = "600/minute"
    limit_hold_per_fan: str = "10/minute"
    limit_presale_hold_per_address: str = "600/minute"
    limit_presale_hold_per_fan: str = "10/minute"
    limit_pay_per_address: str = "600/minute"
    limit_pay_per_fan: str = "10/minute"
    limit_release_per_address: str = "600/minute"
    limit_release_per_fan: str = "10/minute"
    # Fan sockets open at once from one address, counted in each web process; 0: no cap.
    limit_open_sockets_per_address: int = 500
    # The drand beacon whose round the draw mixes in (buffer/beacon.py): a base
    # URL; "local" has launch/stack.py start one on loopback; empty: none.
    # From the environment: FAIRDROP_BEACON_URL, unset meaning QUICKNET_URL.
    beacon_url: str = ""
    # The draw's round is the first after drop_at + margin; past that round's
    # time the clock keeps asking for wait seconds, then draws without it.
    beacon_margin_seconds: float = 1.0
    beacon_wait_seconds: float = 20.0
    # How long a resale round's window stays open (buffer/rounds.py): tickets
    # back after a sale sold out are drawn among everyone who enters in it.
    resale_round_seconds: float = 60.0
    # GET /metrics answers only a bearer of this token; empty: no /metrics (404). README "Metrics".
    metrics_token: str = field(default="", repr=False)
    # prometheus_client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR), shared by every
    # process of one machine; None: each process counts for itself (fairdrop/metrics.py).
    metrics_dir: Path | None = None
    lifecycle_stream_maxlen: int = 100_000  # about as many entries as each lifecycle stream keeps

    @property
    def emails_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def login_enabled(self) -> bool:
        return bool(self.oidc_discovery_url and self.oidc_client_id)

    @property
    def public_base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        settings = cls(
            redis_url=e.get("REDIS_URL") or None,
            redis_cluster=_bool(e, "FAIRDROP_REDIS_CLUSTER", False),
            rq_redis_url=e.get("RQ_REDIS_URL") or None,
            database_url=e.get("DATABASE_URL") or None,
            data_dir=Path(e.get("FAIRDROP_DATA_DIR") or ".fairdrop"),
            secret_key=e.get("FAIRDROP_SECRET_KEY", ""),
            receipt_key=receipt_key_from(e),
            organiser_token=e.get("FAIRDROP_ORGANISER_TOKEN", ""),
            host=e.get("FAIRDROP_HOST") or "127.0.0.1",
            port=_int(e, "FAIRDROP_PORT", 8000, minimum=0),
            web_workers=_int(e, "FAIRDROP_WEB_WORKERS", 1, minimum=1),
            rq_queue=e.get("FAIRDROP_RQ_QUEUE") or "fairdrop-purchases",
            clock_tick_seconds=_float(e, "FAIRDROP_CLOCK_TICK_SECONDS", 0.2),
            heartbeat_seconds=_float(e, "FAIRDROP_HEARTBEAT_SECONDS", 2.0),
            restore_grace_seconds=_float(e, "FAIRDROP_RESTORE_GRACE_SECONDS", 30.0),
            max_body_bytes=_int(e, "FAIRDROP_MAX_BODY_BYTES", 16_384, minimum=256),
            max_ws_message_bytes=_int(e, "FAIRDROP_MAX_WS_MESSAGE_BYTES", 1_024, minimum=64),
            max_ws_messages_per_second=_int(e, "FAIRDROP_MAX_WS_MESSAGES_PER_SECOND", 10, 1),
            head_timeout_seconds=_float(e, "FAIRDROP_HEAD_TIMEOUT_SECONDS", 10.0),
            max_head_bytes=_int(e, "FAIRDROP_MAX_HEAD_BYTES", 32_768, minimum=4_096),
            body_timeout_seconds=_float(e, "FAIRDROP_BODY_TIMEOUT_SECONDS", 30.0),
            keep_alive_seconds=_int(e, "FAIRDROP_KEEP_ALIVE_SECONDS", 30, minimum=1),
            limit_concurrency=_int(e, "FAIRDROP_LIMIT_CONCURRENCY", 0),
            graceful_shutdown_seconds=_int(e, "FAIRDROP_GRACEFUL_SHUTDOWN_SECONDS", 10, 1),
            cookie_secure=_bool(e, "FAIRDROP_COOKIE_SECURE", False),
            session_hours=_int(e, "FAIRDROP_SESSION_HOURS", 720, minimum=1),
            sign_in_minutes=_int(e, "FAIRDROP_SIGN_IN_MINUTES", 10, minimum=1),
            payment_provider=payment_provider_from(e),
            stripe_secret_key=e.get("STRIPE_SECRET_KEY", ""),
            stripe_webhook_secret=e.get("STRIPE_WEBHOOK_SECRET", ""),
            stripe_publishable_key=e.get("STRIPE_PUBLISHABLE_KEY", ""),
            stripe_api_base=e.get("FAIRDROP_STRIPE_API_BASE", ""),
            stripe_js_url=e.get("FAIRDROP_STRIPE_JS_URL") or "https://js.stripe.com/v3/",
            smtp_host=e.get("FAIRDROP_SMTP_HOST", ""),
            smtp_port=_int(e, "FAIRDROP_SMTP_PORT", 587, minimum=1),
            smtp_security=_choice(e, "FAIRDROP_SMTP_SECURITY", SMTP_SECURITY),
            smtp_username=e.get("FAIRDROP_SMTP_USERNAME", ""),
            smtp_password=e.get("FAIRDROP_SMTP_PASSWORD", ""),
            email_from=e.get("FAIRDROP_EMAIL_FROM") or "fairdrop@localhost",
            public_url=e.get("FAIRDROP_PUBLIC_URL", ""),
            oidc_discovery_url=e.get("FAIRDROP_OIDC_DISCOVERY_URL", ""),
            oidc_client_id=e.get("FAIRDROP_OIDC_CLIENT_ID", ""),
            oidc_client_secret=e.get("FAIRDROP_OIDC_CLIENT_SECRET", ""),
            oidc_name=e.get("FAIRDROP_OIDC_NAME") or "your account",
            pow_default=_pow_difficulty(e, "FAIRDROP_POW_DEFAULT", POW_DEFAULT),
            trusted_proxies=trusted_proxies_from(e),
            limit_open_sockets_per_address=_int(
                e, "FAIRDROP_LIMIT_OPEN_SOCKETS_PER_ADDRESS", 500, minimum=0
            ),
            beacon_url=beacon_url_from(e, QUICKNET_URL),
            beacon_margin_seconds=_float(e, "FAIRDROP_BEACON_MARGIN_SECONDS", 1.0),
            beacon_wait_seconds=_float(e, "FAIRDROP_BEACON_WAIT_SECONDS", 20.0),
            resale_round_seconds=_float(e, "FAIRDROP_RESALE_ROUND_SECONDS", 60.0),
            metrics_token=e.get("FAIRDROP_METRICS_TOKEN", ""),
            metrics_dir=metrics_dir_from(e),
            lifecycle_stream_maxlen=_int(e, "FAIRDROP_LIFECYCLE_STREAM_MAXLEN", 100_000, 1),
        )
        rate_limits = {name: _rate_limit(e, name, getattr(cls, name)) for name in RATE_LIMITS}
        return settings.with_overrides(**rate_limits)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def without_rate_limits(self) -> Settings:
        """Every rate limit off: for load tests that speak for thousands of fans
        from a few loopback addresses, and sites whose proxy limits instead."""
        return self.with_overrides(
            **dict.fromkeys(RATE_LIMITS, RATE_LIMIT_OFF), limit_open_sockets_per_address=0
        )

    def as_env(self) -> dict[str, str]:
        """The environment that makes a child process read these same settings."""
        env = {
            "FAIRDROP_DATA_DIR": str(self.data_dir),
            "FAIRDROP_SECRET_KEY": self.secret_key,
            "FAIRDROP_RECEIPT_KEY": self.receipt_key,
            "FAIRDROP_ORGANISER_TOKEN": self.organiser_token,
            "FAIRDROP_HOST": self.host,
            "FAIRDROP_PORT": str(self.port),
            "FAIRDROP_WEB_WORKERS": str(self.web_workers),
            "FAIRDROP_RQ_QUEUE": self.rq_queue,
            "FAIRDROP_CLOCK_TICK_SECONDS": str(self.clock_tick_seconds),
            "FAIRDROP_HEARTBEAT_SECONDS": str(self.heartbeat_seconds),
            "FAIRDROP_RESTORE_GRACE_SECONDS": str(self.restore_grace_seconds),
            "FAIRDROP_MAX_BODY_BYTES": str(self.max_body_bytes),
            "FAIRDROP_MAX_WS_MESSAGE_BYTES": str(self.max_ws_message_bytes),
            "FAIRDROP_MAX_WS_MESSAGES_PER_SECOND": str(self.max_ws_messages_per_second),
            "FAIRDROP_HEAD_TIMEOUT_SECONDS": str(self.head_timeout_seconds),
            "FAIRDROP_MAX_HEAD_BYTES": str(self.max_head_bytes),
            "FAIRDROP_BODY_TIMEOUT_SECONDS": str(self.body_timeout_seconds),
            "FAIRDROP_KEEP_ALIVE_SECONDS": str(self.keep_alive_seconds),
            "FAIRDROP_LIMIT_CONCURRENCY": str(self.limit_concurrency),
            "FAIRDROP_GRACEFUL_SHUTDOWN_SECONDS": str(self.graceful_shutdown_seconds),
            "FAIRDROP_COOKIE_SECURE": "1" if self.cookie_secure else "0",
            "FAIRDROP_SESSION_HOURS": str(self.session_hours),
            "FAIRDROP_SIGN_IN_MINUTES": str(self.sign_in_minutes),
            "FAIRDROP_PAYMENT_PROVIDER": self.payment_provider,
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            "STRIPE_PUBLISHABLE_KEY": self.stripe_publishable_key,
            "FAIRDROP_STRIPE_API_BASE": self.stripe_api_base,
            "FAIRDROP_STRIPE_JS_URL": self.stripe_js_url,
            "FAIRDROP_SMTP_HOST": self.smtp_host,
            "FAIRDROP_SMTP_PORT": str(self.smtp_port),
            "FAIRDROP_SMTP_SECURITY": self.smtp_security,
            "FAIRDROP_SMTP_USERNAME": self.smtp_username,
            "FAIRDROP_SMTP_PASSWORD": self.smtp_password,
            "FAIRDROP_EMAIL_FROM": self.email_from,
            "FAIRDROP_PUBLIC_URL": self.public_url,
            "FAIRDROP_OIDC_DISCOVERY_URL": self.oidc_discovery_url,
            "FAIRDROP_OIDC_CLIENT_ID": self.oidc_client_id,
            "FAIRDROP_OIDC_CLIENT_SECRET": self.oidc_client_secret,
            "FAIRDROP_OIDC_NAME": self.oidc_name,
            "FAIRDROP_POW_DEFAULT": str(self.pow_default),
            "FAIRDROP_TRUSTED_PROXIES": ",".join(self.trusted_proxies),
            "FAIRDROP_LIMIT_OPEN_SOCKETS_PER_ADDRESS": str(self.limit_open_sockets_per_address),
            "FAIRDROP_BEACON_URL": self.beacon_url,
            "FAIRDROP_BEACON_MARGIN_SECONDS": str(self.beacon_margin_seconds),
            "FAIRDROP_BEACON_WAIT_SECONDS": str(self.beacon_wait_seconds),
            "FAIRDROP_RESALE_ROUND_SECONDS": str(self.resale_round_seconds),
            "FAIRDROP_METRICS_TOKEN": self.metrics_token,
            **({"PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir)} if self.metrics_dir else {}),
            "FAIRDROP_LIFECYCLE_STREAM_MAXLEN": str(self.lifecycle_stream_maxlen),
            **{f"FAIRDROP_{name.upper()}": getattr(self, name) for name in RATE_LIMITS},
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        if self.redis_cluster:
            env["FAIRDROP_REDIS_CLUSTER"] = "true"
        if self.rq_redis_url:
            env["RQ_REDIS_URL"] = self.rq_redis_url
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env
