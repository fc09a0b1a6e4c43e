"""Stripe's settings come from the environment only, are checked, and are never printed."""

from __future__ import annotations

import pytest

from fairdrop.settings import Settings, SettingsError

STRIPE_ENV = {
    "STRIPE_SECRET_KEY": "sk_test_keep-me-out-of-logs",
    "STRIPE_WEBHOOK_SECRET": "whsec_keep-me-out-of-logs",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_public",
}


def test_a_stripe_key_makes_stripe_the_provider_and_stays_out_of_reprs() -> None:
    settings = Settings.from_env(
        {
            **STRIPE_ENV,
            "FAIRDROP_STRIPE_API_BASE": "http://127.0.0.1:1",
            "FAIRDROP_STRIPE_JS_URL": "",
        }
    )

    assert settings.payment_provider == "stripe"
    assert settings.stripe_js_url == "https://js.stripe.com/v3/"
    assert settings.stripe_api_base == "http://127.0.0.1:1"
    # Child processes (web, worker) get the same settings from the environment...
    assert Settings.from_env(settings.as_env()) == settings
    # ...but the secrets never appear where settings are printed or logged.
    for text in (repr(settings), str(settings)):
        assert "keep-me-out-of-logs" not in text
    assert "pk_test_public" in repr(settings)


def test_the_local_provider_stays_the_default_and_can_be_chosen_with_keys_set() -> None:
    assert Settings.from_env({}).payment_provider == "local"
    chosen = Settings.from_env({**STRIPE_ENV, "FAIRDROP_PAYMENT_PROVIDER": "local"})
    assert chosen.payment_provider == "local"


@pytest.mark.parametrize("missing", sorted(STRIPE_ENV))
def test_stripe_without_all_its_keys_is_refused_at_start(missing: str) -> None:
    env = {k: v for k, v in STRIPE_ENV.items() if k != missing}
    env["FAIRDROP_PAYMENT_PROVIDER"] = "stripe"
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(SettingsError, match="FAIRDROP_PAYMENT_PROVIDER"):
        Settings.from_env({"FAIRDROP_PAYMENT_PROVIDER": "paypal"})
