"""Email sign-in on the fan page, in a real Chromium, against a real SMTP server.

A fan on a phone opens an ``email`` sale, is asked to sign in, types an
address, reads the code in the email that arrives and types it: the page
joins and shows a place. The same person asking again on a laptop (typing
the address differently) and opening that email's link lands on the sale
signed in, in the same place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.live_stack import LiveStack, running_stack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.servers import PostgresServer
from tests.smtp_server import SmtpServer
from tests.web.fans import open_sale

pytestmark = pytest.mark.browser

SENDER = "sign-in@fairdrop.test"
LINK = re.compile(r"(\S+/sign-in/email/[A-Za-z0-9_.-]+)")
CODE = re.compile(r"type this code on the device where you asked: ([0-9]{6})")


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[LiveStack]:
    workdir = tmp_path_factory.mktemp("email-page-stack")
    with running_stack(postgres_server, workdir, **smtp.stack_settings(SENDER)) as stack:
        yield stack


def _queue_number(page: Page) -> str:
    number = page.locator("#queue-number")
    expect(number).to_have_text(re.compile(r"^\d+$"), timeout=20_000)
    return number.inner_text()


def test_a_fan_signs_in_with_the_emailed_code_and_the_link_gives_the_same_place(
    browser: Browser, live_stack: LiveStack, smtp: SmtpServer
) -> None:
    event_id = open_sale(live_stack, access="email")
    phone = browser.new_page(viewport=PHONE)
    phone.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(phone.locator("#email-form")).to_be_visible(timeout=10_000)
    expect(phone.locator("#access-policy")).to_contain_text("sign in with your email")
    expect(phone.locator("#place")).to_be_hidden()
    phone.fill("#sign-in-email", "Ada.Lovelace+drops@GMail.com")
    phone.click("#email-send")
    expect(phone.locator("#code-form")).to_be_visible(timeout=10_000)

    [mail] = smtp.mailbox.wait_for("adalovelace@gmail.com")
    text = mail.text()
    code = CODE.search(text)
    assert code is not None, text
    phone.fill("#sign-in-code", "000000" if code[1] != "000000" else "111111")
    phone.click("#code-send")
    expect(phone.locator("#error")).to_contain_text("code", timeout=10_000)
    phone.fill("#sign-in-code", code[1])
    phone.click("#code-send")
    number = _queue_number(phone)
    expect(phone.locator("#sign-in")).to_be_hidden()
    expect(phone.locator("#signed-in-as")).to_have_text("adalovelace@gmail.com")
    phone.screenshot(path=screenshot_path("fan-email-signed-in"), full_page=True)
    phone.close()

    # The laptop asks for its own email (the code used the first one up) and
    # opens its link: signed in as the same mailbox, in the same place.
    laptop = browser.new_page(viewport=DESKTOP)
    laptop.goto(f"{live_stack.base_url}/e/{event_id}")
    laptop.fill("#sign-in-email", "ADALOVELACE@googlemail.com")
    laptop.click("#email-send")
    expect(laptop.locator("#code-form")).to_be_visible(timeout=10_000)
    second = smtp.mailbox.wait_for("adalovelace@gmail.com", count=2)[1]
    link = LINK.search(second.text())
    assert link is not None, second.text()
    laptop.goto(link[1])
    laptop.wait_for_url(f"{live_stack.base_url}/e/{event_id}", timeout=10_000)
    assert _queue_number(laptop) == number
    laptop.close()
