"""The Test a request box in a real Chromium: answers inline and highlights the matching rule."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from origin.engine import FIXED_USER_AGENT
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

# Set before an action, read after it: still there means the page was not reloaded.
MARK_PAGE = "window.__sameDocument = true"
SAME_PAGE = "window.__sameDocument === true"


@pytest.fixture
def rules(bucket, make_rule):
    mirror = make_rule(
        bucket,
        key_prefix="images/",
        path="static",
        pass_query_string=True,
        pass_headers=["aaa-header"],
        remove_headers=["bbb-header"],
        set_headers=[["ccc-header", "ccc"]],
    )
    redirect = make_rule(
        bucket,
        mode="redirect",
        key_prefix="old/",
        host="new.example.com",
        redirect_code=302,
    )
    return mirror, redirect


@pytest.fixture
def rule_list(page, live_server, alice, bucket, rules):
    """Log on as alice and open the Back-to-Origin rule list of her bucket with its rules."""
    page.goto(f"{live_server.url}/console/")
    page.get_by_label("Username", exact=True).fill(alice.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log on").click()
    expect(page.get_by_test_id("user-name")).to_have_text(alice.username)
    page.goto(live_server.url + reverse("console-rules", args=[bucket.name]))
    expect(page.locator("#rule-list")).to_be_visible()
    page.evaluate(MARK_PAGE)
    return page


def try_request(page, key, query="", headers=""):
    """Fill the Test a request box and press Test; the answer appears in place."""
    box = page.locator("#dry-run")
    box.get_by_label("Object key", exact=True).fill(key)
    box.get_by_label("Query string", exact=True).fill(query)
    box.get_by_label("Request headers", exact=True).fill(headers)
    box.get_by_role("button", name="Test").click()
    return page.get_by_test_id("dry-run-answer")


def test_mirroring_answer_inline_with_the_matching_row_highlighted(rule_list, rules):
    page = rule_list
    mirror, redirect = rules
    expect(page.get_by_role("heading", name="Test a request")).to_be_visible()

    answer = try_request(
        page,
        "images/cat 1.jpg",
        "v=1",
        "aaa-header: aaa\nbbb-header: bbb\nccc-header: 111",
    )

    expect(answer).to_contain_text("Rule 1 matches (Mirroring).")
    expect(answer.get_by_test_id("dry-run-origin-url")).to_have_text(
        "https://www.example.com/static/images/cat%201.jpg?v=1"
    )
    expect(answer.locator("dd code")).to_have_text(
        [
            "https://www.example.com/static/images/cat%201.jpg?v=1",
            "aaa-header: aaa",
            "ccc-header: ccc",
            f"User-Agent: {FIXED_USER_AGENT}",
        ]
    )
    expect(page.locator(f"#rule-{mirror.pk}")).to_have_class("matched")
    expect(page.locator(f"#rule-{redirect.pk}")).not_to_have_class("matched")
    # What was typed stays in the box.
    expect(page.get_by_label("Object key", exact=True)).to_have_value(
        "images/cat 1.jpg"
    )
    assert page.evaluate(SAME_PAGE)

    answer = try_request(page, "old/page.html", "from=a")

    expect(answer).to_contain_text("Rule 2 matches (Redirection).")
    expect(answer.locator("dd")).to_have_text(
        ["302", "https://new.example.com/old/page.html"]
    )
    expect(answer.get_by_role("listitem")).to_have_text(
        ["Rule 1: key does not start with 'images/'"]
    )
    expect(page.locator(f"#rule-{redirect.pk}")).to_have_class("matched")
    expect(page.locator(f"#rule-{mirror.pk}")).not_to_have_class("matched")
    assert page.evaluate(SAME_PAGE)


def test_a_key_that_matches_nothing_says_why_and_highlights_no_row(rule_list, rules):
    page = rule_list
    try_request(page, "images/a.png")
    expect(page.locator("#rule-list tr.matched")).to_have_count(1)

    answer = try_request(page, "misc/readme.txt")

    expect(answer).to_contain_text("No rule matches: the request gets 404 NoSuchKey.")
    expect(answer.get_by_role("listitem")).to_have_text(
        [
            "Rule 1: key does not start with 'images/'",
            "Rule 2: key does not start with 'old/'",
        ]
    )
    expect(page.locator("#rule-list tr.matched")).to_have_count(0)
    assert page.evaluate(SAME_PAGE)


def test_a_bad_header_line_is_refused_inline(rule_list, rules):
    page = rule_list

    try_request(page, "images/a.png", headers="aaa-header aaa")

    expect(page.locator("#field-headers .field-error")).to_have_text(
        "Line 1: write headers as 'Name: value'."
    )
    expect(page.get_by_test_id("dry-run-answer")).to_have_count(0)
    expect(page.get_by_label("Request headers", exact=True)).to_have_value(
        "aaa-header aaa"
    )
    assert page.evaluate(SAME_PAGE)
