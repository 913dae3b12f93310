"""Origin protection in a real Chromium: the fields in Mirroring > Advanced with an
inline error, the saved rule's summary, and an open circuit on the rule row."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from origin.models import OriginBreaker
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def open_rule_list(page, live_server, user, bucket):
    """Log on as `user` and open the bucket's Back-to-Origin rule list."""
    page.goto(f"{live_server.url}/console/")
    page.get_by_label("Username", exact=True).fill(user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log on").click()
    expect(page.get_by_test_id("user-name")).to_have_text(user.username)
    page.goto(live_server.url + reverse("console-rules", args=[bucket.name]))


@pytest.fixture
def rule_list(page, live_server, alice, bucket):
    """alice logged on, on her bucket's Back-to-Origin rule list."""
    open_rule_list(page, live_server, alice, bucket)
    section = page.locator("#back-to-origin-section")
    expect(section.locator("#rule-list")).to_be_visible()
    return section


def test_the_protection_fields_refuse_inline_then_save(rule_list):
    rule_list.get_by_role("link", name="Create Rule").click()
    form = rule_list.locator("#rule-form")
    form.get_by_label("Mirroring", exact=True).check()
    form.get_by_label("Domain or IP", exact=True).fill("www.example.com")
    form.locator("#rule-advanced summary").click()
    form.get_by_label("Remember origin 404s (seconds)", exact=True).fill("60")
    form.get_by_label("Open circuit after N failures", exact=True).fill("3")
    form.get_by_role("button", name="OK").click()

    error = rule_list.locator("#field-breaker_open_seconds .field-error")
    expect(error).to_contain_text("from 1 to 86400")
    expect(
        form.get_by_label("Remember origin 404s (seconds)", exact=True)
    ).to_have_value("60")

    form.get_by_label("Keep circuit open (seconds)", exact=True).fill("30")
    form.get_by_role("button", name="OK").click()

    expect(rule_list.get_by_role("status")).to_have_text("Rule 1 saved.")
    expect(rule_list.locator("#rule-list td.summary")).to_contain_text(
        "origin 404s remembered 60 s · circuit opens after 3 failures for 30 s"
    )


def test_an_open_circuit_shows_on_the_rule_row(
    page, live_server, alice, bucket, make_rule
):
    rule = make_rule(bucket, breaker_failures=2, breaker_open_seconds=60)
    OriginBreaker.objects.create(
        rule=rule, failures=2, open_until=timezone.now() + timedelta(seconds=60)
    )
    open_rule_list(page, live_server, alice, bucket)

    notice = page.locator(f"#rule-{rule.pk}").get_by_test_id("circuit-notice")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(
        re.compile(r"Origin circuit open until \d\d:\d\d:\d\d \(2 failures\)")
    )
