"""Readers for the settings whose values need more than a number's checks.

fairdrop/settings.py is the one place that reads the environment; it calls
these, so the Settings class itself stays short enough to read in one go.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import limits


class SettingsError(ValueError):
    """A setting in the environment cannot be used."""


def trusted_proxies_from(env: Mapping[str, str]) -> tuple[str, ...]:
    """FAIRDROP_TRUSTED_PROXIES: comma-separated addresses and CIDR blocks, normalised."""
    raw = env.get("FAIRDROP_TRUSTED_PROXIES") or ""
    proxies = []
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        try:
            proxies.append(str(ipaddress.ip_network(entry)))
        except ValueError as exc:
            raise SettingsError(
                f"FAIRDROP_TRUSTED_PROXIES must list IP addresses or CIDR blocks "
                f"(like 10.0.0.0/8), got {entry!r}: {exc}"
            ) from exc
    return tuple(proxies)


PAYMENT_PROVIDERS = ("local", "stripe")
# What Stripe needs before fairdrop can take a payment and hear that it went through.
STRIPE_NEEDS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PUBLISHABLE_KEY")


def payment_provider_from(env: Mapping[str, str]) -> str:
    """FAIRDROP_PAYMENT_PROVIDER, stripe by default once STRIPE_SECRET_KEY is set."""
    default = "stripe" if env.get("STRIPE_SECRET_KEY") else "local"
    provider = (env.get("FAIRDROP_PAYMENT_PROVIDER") or default).strip().lower()
    if provider not in PAYMENT_PROVIDERS:
        raise SettingsError(
            f"FAIRDROP_PAYMENT_PROVIDER must be one of {', '.join(PAYMENT_PROVIDERS)}, "
            f"got {provider!r}"
        )
    if provider == "stripe":
        missing = [name for name in STRIPE_NEEDS if not env.get(name)]
        if missing:
            raise SettingsError(f"Stripe payments need {', '.join(missing)} to be set")
    return provider


BEACON_OFF = "off"
# Not a URL: launch/stack.py starts a beacon on loopback and hands its
# processes the URL it got (the demo and the tests).
BEACON_LOCAL = "local"


def beacon_url_from(env: Mapping[str, str], default: str) -> str:
    """FAIRDROP_BEACON_URL: a drand HTTP base URL, "local", or "off"/empty for none.

    Unset means ``default``; "off" and empty both become "", so the value
    survives a trip through Settings.as_env to a child process.
    """
    raw = env.get("FAIRDROP_BEACON_URL")
    if raw is None:
        return default
    value = raw.strip()
    if value.lower() in ("", BEACON_OFF):
        return ""
    if value.lower() == BEACON_LOCAL:
        return BEACON_LOCAL
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f'FAIRDROP_BEACON_URL must be a drand http(s) URL, "{BEACON_LOCAL}" or '
            f'"{BEACON_OFF}", got {raw!r}'
        )
    return value.rstrip("/")


RATE_LIMIT_OFF = "off"


def parse_rate_limit(name: str, raw: str) -> limits.RateLimitItem | None:
    """One limit in the limits library's notation, or None for "off".

    SettingsError naming ``name`` for anything else.
    """
    if raw.strip().lower() == RATE_LIMIT_OFF:
        return None
    try:
        items = limits.parse_many(raw)
    except ValueError:
        items = []
    if len(items) != 1 or items[0].amount < 1:
        raise SettingsError(
            f'{name} must be one rate limit like "60/minute" or "10 per 30 seconds" '
            f'(at least 1), or "off", got {raw!r}'
        )
    return items[0]


def metrics_dir_from(env: Mapping[str, str]) -> Path | None:
    """PROMETHEUS_MULTIPROC_DIR, prometheus_client's own variable: an existing
    directory (the library writes its files there from the first count), or unset."""
    raw = env.get("PROMETHEUS_MULTIPROC_DIR") or ""
    if not raw:
        return None
    if not Path(raw).is_dir():
        raise SettingsError(
            f"PROMETHEUS_MULTIPROC_DIR must name an existing directory, got {raw!r}"
        )
    return Path(raw)
