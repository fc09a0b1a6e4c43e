"""Who may enter, in a real browser: the fan page's policy line and sign-in
card, personal links on two devices, and the organiser's "Who may enter" card."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import open_sale


def _import(stack: LiveStack, event_id: str, text: str) -> list[dict[str, str]]:
    """Imports a list through the API; the list as the organiser downloads it."""
    url = f"{stack.base_url}/api/events/{event_id}/access-list"
    headers = {**stack.organiser_headers, "Content-Type": "text/csv"}
    assert httpx.post(url, content=text, headers=headers).status_code == 200
    listed = httpx.get(f"{url}.csv", headers=stack.organiser_headers)
    return list(csv.DictReader(io.StringIO(listed.text)))


def _dashboard(browser: Browser, stack: LiveStack, event_id: str, card: str) -> Page:
    """The organiser page on a laptop, signed in, with ``event_id``'s ``card`` showing."""
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{stack.base_url}/organiser#{event_id}")
    page.fill("#token", stack.settings.organiser_token)
    expect(page.locator(card)).to_be_visible(timeout=10_000)
    return page


def _queue_number(page: Page) -> str:
    number = page.locator("#queue-number")
    expect(number).to_have_text(re.compile(r"^\d+$"), timeout=10_000)
    return number.inner_text()


def test_an_open_sale_says_it_cannot_tell_people_apart(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{open_sale(live_stack)}")
    expect(page.locator("#access-policy")).to_contain_text("cannot tell people apart")
    _queue_number(page)
    expect(page.locator("#sign-in")).to_be_hidden()
    page.close()


def test_a_listed_fan_enters_by_personal_link_on_two_devices(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, access="list")
    [row] = _import(live_stack, event_id, "id,allowance\nSEAT-12,2\n")
    fan_page = f"{live_stack.base_url}/e/{event_id}"

    stranger = browser.new_page(viewport=PHONE)
    stranger.goto(fan_page)
    expect(stranger.locator("#sign-in")).to_be_visible(timeout=10_000)
    expect(stranger.locator("#sign-in-reason")).to_contain_text("organiser's list")
    expect(stranger.locator("#list-note")).to_be_visible()
    expect(stranger.locator("#access-policy")).to_contain_text("only for the people on")
    expect(stranger.locator("#place")).to_be_hidden()
    stranger.screenshot(path=screenshot_path("fan-list-sign-in"), full_page=True)
    stranger.close()

    numbers = []
    for device in range(2):
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(row["personal_link"])
        page.wait_for_url(fan_page, timeout=10_000)
        numbers.append(_queue_number(page))
        expect(page.locator("#sign-in")).to_be_hidden()
        if device == 0:
            page.screenshot(path=screenshot_path("fan-list-signed-in"), full_page=True)
        context.close()
    assert numbers[0] == numbers[1]


def test_the_organiser_sets_who_may_enter_and_imports_the_list(
    browser: Browser, live_stack: LiveStack, tmp_path: Path
) -> None:
    later = live_stack.create_event(
        opens_at="2099-01-01T00:00:00Z", drop_at="2099-01-01T00:10:00Z"
    )["id"]
    page = _dashboard(browser, live_stack, later, "#access-card")
    expect(page.locator("#access-now")).to_contain_text("cannot tell people apart")
    expect(page.locator("#list-tools")).to_be_hidden()

    page.select_option("#access-select", "list")
    page.click("#access-change")
    expect(page.locator("#access-now")).to_contain_text("Only the people on your list")
    expect(page.locator("#list-tools")).to_be_visible()
    public = httpx.get(f"{live_stack.base_url}/api/events/{later}").json()
    assert public["access"] == "list"

    listing = tmp_path / "staff.csv"
    listing.write_text("email,id,allowance\nana@example.com,,2\n,EMP-1,1\n", encoding="utf-8")
    page.set_input_files("#list-file", str(listing))
    page.click("#list-import")
    expect(page.locator("#import-result")).to_contain_text("2 on the list", timeout=10_000)
    expect(page.locator("#import-result")).to_contain_text("2 added")

    with page.expect_download() as download:
        page.click("#list-download")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["email"], r["id"]) for r in rows] == [("ana@example.com", ""), ("", "EMP-1")]
    assert rows[1]["personal_link"].startswith(f"{live_stack.base_url}/sign-in/pass/")

    # A broken list is refused with its reason, and the list stays as it was.
    broken = tmp_path / "broken.csv"
    broken.write_text("name\nAna\n", encoding="utf-8")
    page.set_input_files("#list-file", str(broken))
    page.click("#list-import")
    expect(page.locator("#error")).to_contain_text("unknown column", timeout=10_000)
    page.screenshot(path=screenshot_path("organiser-access"), full_page=True)
    page.close()


def test_a_presale_link_made_on_the_dashboard_buys_before_the_window_opens(
    browser: Browser, live_stack: LiveStack
) -> None:
    later = live_stack.create_event(
        opens_at="2099-01-01T00:00:00Z", drop_at="2099-01-01T00:10:00Z"
    )["id"]
    organiser = _dashboard(browser, live_stack, later, "#presale-form")
    organiser.fill("#presale-label", "Fan club")
    organiser.fill("#presale-allowance", "2")
    organiser.select_option("#presale-type", "ga")
    organiser.click("#presale-create")
    link = organiser.locator("#presale-links a")
    expect(link).to_have_count(1, timeout=10_000)
    fan_url = link.get_attribute("href") or ""
    assert f"/e/{later}?presale=" in fan_url

    fan = browser.new_page(viewport=PHONE)
    fan.goto(fan_url)
    expect(fan.locator("#presale-banner")).to_contain_text(
        "up to 2 ticket(s) of GA", timeout=10_000
    )
    expect(fan.locator("#turn-label")).to_have_text("This presale link ends in")
    expect(fan.locator("#buy-form")).to_be_visible()
    fan.fill(f'input[name="qty-{later}.ga"]', "1")
    fan.click("#buy-button")
    expect(fan.locator("#hold")).to_be_visible(timeout=10_000)
    fan.screenshot(path=screenshot_path("fan-presale-hold"), full_page=True)
    fan.click("#pay-button")
    expect(fan.locator("#confirmation")).to_be_visible(timeout=20_000)
    expect(fan.locator("#ticket-codes li")).to_have_count(1)
    fan.close()

    organiser.reload()
    organiser.fill("#token", live_stack.settings.organiser_token)
    row = organiser.locator("#presale-links tr")
    expect(row).to_contain_text("Fan club", timeout=10_000)
    expect(row.locator("td").nth(2)).to_have_text("1")
    expect(row.locator("td").nth(3)).to_have_text("1")
    organiser.close()


def test_the_organiser_makes_and_revokes_a_door_token(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack)
    page = _dashboard(browser, live_stack, event_id, "#doors-card")
    page.on("dialog", lambda dialog: dialog.accept())
    page.fill("#door-name", "North gate")
    page.click("#door-make")
    expect(page.locator("#door-token-made")).to_be_visible(timeout=10_000)
    token = page.locator("#door-token-value").inner_text()
    whoami = f"{live_stack.base_url}/api/door/whoami"
    staff = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(whoami, headers=staff).json()
    assert (answer["event_id"], answer["door"]) == (event_id, "North gate")
    row = page.locator("#door-tokens tr")
    expect(row).to_contain_text("North gate")
    expect(row).to_contain_text("works")
    page.screenshot(path=screenshot_path("organiser-doors"), full_page=True)

    row.locator("button").click()
    expect(row).to_contain_text("revoked", timeout=10_000)
    refused = httpx.get(whoami, headers=staff)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "door_token_revoked"
    page.close()
