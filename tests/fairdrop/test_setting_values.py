"""The beacon's settings as fairdrop/settings.py reads them through fairdrop/setting_values.py."""

from __future__ import annotations

import pytest

from fairdrop.settings import QUICKNET_URL, Settings, SettingsError


def test_drand_quicknet_unless_the_environment_names_another_beacon_or_none() -> None:
    assert Settings.from_env({}).beacon_url == QUICKNET_URL
    assert Settings().beacon_url == ""  # a test's own Settings never reach the internet
    named = {
        "off": "",
        "": "",
        " OFF ": "",
        "local": "local",
        "http://127.0.0.1:9000/": "http://127.0.0.1:9000",
        QUICKNET_URL: QUICKNET_URL,
    }
    for raw, url in named.items():
        assert Settings.from_env({"FAIRDROP_BEACON_URL": raw}).beacon_url == url


@pytest.mark.parametrize("raw", ["api.drand.sh", "ftp://api.drand.sh", "https://", "quicknet"])
def test_a_beacon_url_that_is_no_url_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="FAIRDROP_BEACON_URL"):
        Settings.from_env({"FAIRDROP_BEACON_URL": raw})


def test_a_child_process_reads_the_same_beacon_settings() -> None:
    for url in ("", "http://127.0.0.1:9000", QUICKNET_URL):
        chosen = Settings(beacon_url=url, beacon_margin_seconds=0.5, beacon_wait_seconds=7.0)
        again = Settings.from_env(chosen.as_env())
        assert (again.beacon_url, again.beacon_margin_seconds, again.beacon_wait_seconds) == (
            url,
            0.5,
            7.0,
        )
    defaults = Settings.from_env({})
    assert (defaults.beacon_margin_seconds, defaults.beacon_wait_seconds) == (1.0, 20.0)
    with pytest.raises(SettingsError, match="FAIRDROP_BEACON_WAIT_SECONDS"):
        Settings.from_env({"FAIRDROP_BEACON_WAIT_SECONDS": "soon"})
