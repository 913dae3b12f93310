"""Back-to-Origin rules in a real Chromium: the seed flow, clicked through as a person does.

Log on → bucket name on the left → Basic Settings → Back-to-Origin Edit → Create Rule →
Mirroring / Redirection → Prerequisite and Origin URL → options → OK.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from buckets.models import unseal_secret
from origin.models import BackToOriginRule
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

# Set before an action, read after it: still there means the page was not reloaded.
MARK_PAGE = "window.__sameDocument = true"
SAME_PAGE = "window.__sameDocument === true"


@pytest.fixture
def log_on(page, live_server):
    """Log on through the real login page; lands on the bucket list."""

    def log_on_as(user):
        page.goto(f"{live_server.url}/console/")
        page.get_by_label("Username", exact=True).fill(user.username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log on").click()
        expect(page.get_by_test_id("user-name")).to_have_text(user.username)
        return page

    return log_on_as


def open_rule_editor(page, bucket_name):
    """Steps 2–3: the bucket name on the left, Basic Settings, Back-to-Origin Edit."""
    page.locator("#bucket-nav").get_by_role("link", name=bucket_name).click()
    expect(page.get_by_test_id("bucket-title")).to_have_text(bucket_name)
    page.get_by_role("link", name="Basic Settings").click()
    section = page.locator("#back-to-origin-section")
    expect(section.get_by_role("heading", name="Back-to-Origin")).to_be_visible()
    section.get_by_role("link", name="Edit").click()
    expect(section.locator("#rule-list")).to_be_visible()
    return section


def open_create_form(section):
    section.get_by_role("link", name="Create Rule").click()
    form = section.locator("#rule-form")
    expect(form.page.locator("#rule-form-panel h3")).to_have_text("Create Rule")
    return form


def header_list(form, name):
    """One header list of the form: pass_headers, remove_headers, set_headers..."""
    return form.locator(f"#field-{name}")


def rule_rows(section):
    return section.locator("#rule-list tbody tr")


def test_mirroring_and_redirection_rules_along_the_seed_flow(log_on, alice, photos):
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    expect(section.get_by_text("No rules yet.")).to_be_visible()
    page.evaluate(MARK_PAGE)

    form = open_create_form(section)
    form.get_by_label("Mirroring", exact=True).check()
    form.get_by_label("File Name Prefix", exact=True).fill("images/")
    form.get_by_label("Protocol", exact=True).select_option("http")
    form.get_by_label("Domain or IP", exact=True).fill("www.example.com")
    form.get_by_label("Path", exact=True).fill("static/img")
    form.get_by_label("Transfer queryString", exact=True).check()

    transmit = header_list(form, "pass_headers")
    transmit.get_by_label("Header name", exact=True).fill("aaa-header")
    transmit.get_by_role("button", name="+ Add").click()
    expect(transmit.locator(".header-row")).to_have_count(2)
    transmit.get_by_label("Header name", exact=True).nth(1).fill("changed-my-mind")
    transmit.get_by_role("button", name="Remove").nth(1).click()
    expect(transmit.locator(".header-row")).to_have_count(1)
    expect(transmit.get_by_label("Header name", exact=True)).to_have_value("aaa-header")

    do_not_transmit = header_list(form, "remove_headers")
    do_not_transmit.get_by_label("Header name", exact=True).fill("bbb-header")
    do_not_transmit.get_by_role("button", name="+ Add").click()  # left blank: ignored
    expect(do_not_transmit.locator(".header-row")).to_have_count(2)

    set_these = header_list(form, "set_headers")
    set_these.get_by_label("Header name", exact=True).fill("ccc-header")
    set_these.get_by_label("Header value", exact=True).fill("ccc")
    form.get_by_role("button", name="OK").click()

    expect(page.get_by_role("status")).to_have_text("Rule 1 saved.")
    expect(page.locator("#rule-form")).to_have_count(0)
    row = rule_rows(section)
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("1")
    expect(row.locator("td").nth(1)).to_have_text("Mirroring")
    expect(row.locator("td").nth(2)).to_have_text("HTTP 404 · prefix images/")
    expect(row.locator("td").nth(3)).to_have_text("http://www.example.com/static/img/")
    expect(row.locator("td.summary")).to_have_text(
        "queryString ✓ · follow 3xx ✓ · pass aaa-header · remove bbb-header · set ccc-header=ccc"
    )
    expect(row.get_by_role("link", name="Edit")).to_be_visible()
    expect(row.get_by_role("link", name="Clear")).to_be_visible()

    form = open_create_form(section)
    form.get_by_label("Redirection", exact=True).check()
    expect(form.get_by_label("Redirection Code", exact=True)).to_be_visible()
    form.get_by_label("File Name Prefix", exact=True).fill("old/")
    form.get_by_label("Domain or IP", exact=True).fill("new.example.com")
    form.get_by_label("Redirection Code", exact=True).select_option("302")
    form.get_by_role("button", name="OK").click()

    expect(page.get_by_role("status")).to_have_text("Rule 2 saved.")
    expect(rule_rows(section)).to_have_count(2)
    row = rule_rows(section).nth(1)
    expect(row.locator("td").nth(1)).to_have_text("Redirection")
    expect(row.locator("td").nth(2)).to_have_text("HTTP 404 · prefix old/")
    expect(row.locator("td").nth(3)).to_have_text("https://new.example.com/")
    expect(row.locator("td.summary")).to_have_text("302 · queryString ✗")
    assert page.evaluate(SAME_PAGE)

    mirror, redirect = BackToOriginRule.objects.filter(bucket=photos)
    assert (mirror.position, mirror.mode, mirror.http_status) == (1, "mirror", 404)
    assert (mirror.key_prefix, mirror.key_suffix) == ("images/", "")
    assert (mirror.protocol, mirror.host, mirror.path) == (
        "http",
        "www.example.com",
        "static/img",
    )
    assert mirror.pass_query_string is True
    assert mirror.follow_redirects is True
    assert mirror.pass_all_headers is False
    assert mirror.pass_headers == ["aaa-header"]
    assert mirror.remove_headers == ["bbb-header"]
    assert mirror.set_headers == [["ccc-header", "ccc"]]
    assert (redirect.position, redirect.mode, redirect.http_status) == (
        2,
        "redirect",
        404,
    )
    assert (redirect.key_prefix, redirect.protocol, redirect.host) == (
        "old/",
        "https",
        "new.example.com",
    )
    assert (redirect.redirect_code, redirect.redirect_target) == (302, "keep")
    assert redirect.pass_query_string is False


def test_switching_mode_swaps_fields_in_place_and_keeps_what_was_typed(
    log_on, alice, photos
):
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    form = open_create_form(section)
    page.evaluate(MARK_PAGE)
    mode_fields = form.locator("#rule-mode-fields")
    expect(mode_fields).to_have_attribute("data-mode", "mirror")

    replace_prefix = form.get_by_label("Replace or delete file prefix", exact=True)
    expect(replace_prefix).to_be_hidden()
    form.get_by_label("File Name Prefix", exact=True).fill("docs/")
    expect(replace_prefix).to_be_visible()
    form.get_by_label("File Name Prefix", exact=True).fill("")
    expect(replace_prefix).to_be_hidden()
    form.get_by_label("File Name Prefix", exact=True).fill("docs/")
    form.get_by_label("File Name Suffix", exact=True).fill(".pdf")
    form.get_by_label("Domain or IP", exact=True).fill("docs.example.com")
    form.get_by_label("Transfer queryString", exact=True).check()

    form.get_by_label("Redirection", exact=True).check()
    expect(mode_fields).to_have_attribute("data-mode", "redirect")
    expect(form.get_by_label("Redirection Code", exact=True)).to_have_value("301")
    expect(form.get_by_label("HTTP Status Code", exact=True)).to_have_value("404")
    expect(form.get_by_label("Path", exact=True)).to_have_count(0)
    expect(header_list(form, "pass_headers")).to_have_count(0)
    expect(form.get_by_label("File Name Prefix", exact=True)).to_have_value("docs/")
    expect(form.get_by_label("File Name Suffix", exact=True)).to_have_value(".pdf")
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(
        "docs.example.com"
    )
    expect(form.get_by_label("Transfer queryString", exact=True)).to_be_checked()

    form.get_by_label("Mirroring", exact=True).check()
    expect(mode_fields).to_have_attribute("data-mode", "mirror")
    expect(form.get_by_label("Redirection Code", exact=True)).to_have_count(0)
    expect(form.get_by_label("Path", exact=True)).to_be_visible()
    expect(form.get_by_label("File Name Prefix", exact=True)).to_have_value("docs/")
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(
        "docs.example.com"
    )
    expect(form.get_by_label("Transfer queryString", exact=True)).to_be_checked()
    # The prefix is set, so the re-rendered mirroring fields show the option at once.
    expect(replace_prefix).to_be_visible()
    replace_prefix.check()
    form.get_by_label("Replace prefix with", exact=True).fill("archive/")
    form.get_by_role("button", name="OK").click()

    expect(rule_rows(section).locator("td.summary")).to_contain_text(
        "prefix → 'archive/'"
    )
    assert page.evaluate(SAME_PAGE)
    rule = BackToOriginRule.objects.get(bucket=photos)
    assert (rule.mode, rule.key_prefix, rule.key_suffix, rule.host) == (
        "mirror",
        "docs/",
        ".pdf",
        "docs.example.com",
    )
    assert (rule.replace_prefix, rule.replace_prefix_with) == (True, "archive/")


def test_edit_a_rule_changes_its_origin(log_on, alice, photos, make_rule):
    make_rule(
        photos,
        key_prefix="a/",
        host="old.example.com",
        pass_query_string=True,
        pass_headers=["aaa-header"],
    )
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    page.evaluate(MARK_PAGE)

    rule_rows(section).get_by_role("link", name="Edit").click()
    form = section.locator("#rule-form")
    expect(section.locator("#rule-form-panel h3")).to_have_text("Edit Rule 1")
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(
        "old.example.com"
    )
    expect(form.get_by_label("File Name Prefix", exact=True)).to_have_value("a/")
    expect(
        header_list(form, "pass_headers").get_by_label("Header name", exact=True)
    ).to_have_value("aaa-header")
    query_string = form.get_by_label("Transfer queryString", exact=True)
    expect(query_string).to_be_checked()
    query_string.uncheck()
    form.get_by_label("Domain or IP", exact=True).fill("new.example.com:8080")
    # A trip through Redirection keeps the untick and the new host.
    form.get_by_label("Redirection", exact=True).check()
    expect(form.locator("#rule-mode-fields")).to_have_attribute("data-mode", "redirect")
    expect(query_string).not_to_be_checked()
    form.get_by_label("Mirroring", exact=True).check()
    expect(form.locator("#rule-mode-fields")).to_have_attribute("data-mode", "mirror")
    expect(query_string).not_to_be_checked()
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(
        "new.example.com:8080"
    )
    form.get_by_role("button", name="OK").click()

    expect(page.get_by_role("status")).to_have_text("Rule 1 saved.")
    expect(rule_rows(section)).to_have_count(1)
    expect(rule_rows(section).locator("td").nth(3)).to_have_text(
        "https://new.example.com:8080/"
    )
    assert page.evaluate(SAME_PAGE)
    rule = BackToOriginRule.objects.get(bucket=photos)
    assert (rule.position, rule.host, rule.pass_headers, rule.pass_query_string) == (
        1,
        "new.example.com:8080",
        ["aaa-header"],
        False,
    )


def test_move_up_and_down_reorders_rules(log_on, alice, photos, make_rule):
    first, second, third = (
        make_rule(photos, key_prefix=prefix) for prefix in ("a/", "b/", "c/")
    )
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    page.evaluate(MARK_PAGE)
    prerequisites = rule_rows(section).locator("td:nth-child(3)")
    expect(prerequisites).to_have_text(
        ["HTTP 404 · prefix a/", "HTTP 404 · prefix b/", "HTTP 404 · prefix c/"]
    )
    expect(
        rule_rows(section).first.get_by_role("button", name="Move Up")
    ).to_be_disabled()
    expect(
        rule_rows(section).last.get_by_role("button", name="Move Down")
    ).to_be_disabled()

    section.locator(f"#rule-{first.pk}").get_by_role("button", name="Move Down").click()
    expect(prerequisites).to_have_text(
        ["HTTP 404 · prefix b/", "HTTP 404 · prefix a/", "HTTP 404 · prefix c/"]
    )
    section.locator(f"#rule-{third.pk}").get_by_role("button", name="Move Up").click()
    expect(prerequisites).to_have_text(
        ["HTTP 404 · prefix b/", "HTTP 404 · prefix c/", "HTTP 404 · prefix a/"]
    )
    expect(rule_rows(section).locator("td:nth-child(1)")).to_have_text(["1", "2", "3"])
    assert page.evaluate(SAME_PAGE)
    assert list(
        BackToOriginRule.objects.filter(bucket=photos).values_list("pk", "position")
    ) == [(second.pk, 1), (third.pk, 2), (first.pk, 3)]


def test_clear_asks_first_and_the_state_survives_a_reload(
    log_on, alice, photos, make_rule
):
    first = make_rule(photos, key_prefix="a/", host="a.example.com")
    second = make_rule(photos, key_prefix="b/", host="b.example.com")
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")

    section.locator(f"#rule-{first.pk}").get_by_role("link", name="Clear").click()
    confirm = page.get_by_role("dialog", name="Clear rule")
    expect(confirm).to_contain_text("Clear rule 1 (Mirroring, HTTP 404 · prefix a/)?")
    confirm.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(rule_rows(section)).to_have_count(2)

    section.locator(f"#rule-{first.pk}").get_by_role("link", name="Clear").click()
    confirm.get_by_role("button", name="Clear").click()
    expect(page.get_by_role("status")).to_have_text("Rule 1 cleared.")
    expect(rule_rows(section)).to_have_count(1)
    expect(rule_rows(section).locator("td").nth(0)).to_have_text("1")
    expect(rule_rows(section).locator("td").nth(2)).to_have_text("HTTP 404 · prefix b/")
    assert list(
        BackToOriginRule.objects.filter(bucket=photos).values_list("pk", "position")
    ) == [(second.pk, 1)]

    page.reload()
    expect(page.get_by_test_id("rule-count")).to_have_text("1 rule configured.")
    expect(section.locator(".rule-summary li")).to_have_text(
        ["Mirroring: HTTP 404 · prefix b/ → https://b.example.com/"]
    )
    expect(page.get_by_role("status")).to_have_count(0)  # no stale message
    section.get_by_role("link", name="Edit").click()
    expect(rule_rows(section)).to_have_count(1)
    expect(rule_rows(section).locator("td").nth(3)).to_have_text(
        "https://b.example.com/"
    )


def test_fifth_rule_replaces_create_rule_with_the_limit_message(
    log_on, live_server, alice, photos, make_rule
):
    for prefix in ("a/", "b/", "c/", "d/"):
        make_rule(photos, key_prefix=prefix)
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    limit = section.get_by_text(
        "This bucket has the maximum of 5 Back-to-Origin rules."
    )
    expect(limit).to_have_count(0)

    form = open_create_form(section)
    form.get_by_label("File Name Prefix", exact=True).fill("e/")
    form.get_by_label("Domain or IP", exact=True).fill("www.example.com")
    form.get_by_role("button", name="OK").click()

    expect(rule_rows(section)).to_have_count(5)
    expect(limit).to_be_visible()
    expect(section.get_by_role("link", name="Create Rule")).to_have_count(0)

    # Not even a hand-made POST gets a 6th rule in.
    token = section.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    response = page.request.post(
        live_server.url + reverse("console-rule-create", args=["alice-photos"]),
        form={
            "csrfmiddlewaretoken": token,
            "mode": "mirror",
            "key_prefix": "f/",
            "protocol": "https",
            "host": "www.example.com",
        },
    )
    assert response.status == 200
    assert "A bucket can have at most 5 Back-to-Origin rules." in response.text()
    assert photos.origin_rules.count() == 5


def test_forbidden_headers_and_line_breaks_are_refused_inline(log_on, alice, photos):
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    form = open_create_form(section)
    form.get_by_label("File Name Prefix", exact=True).fill("media/")
    form.get_by_label("Domain or IP", exact=True).fill("media.example.com")
    form.get_by_label("Path", exact=True).fill("assets")
    transmit = header_list(form, "pass_headers")
    transmit.get_by_label("Header name", exact=True).fill("X-OSS-Meta-A")
    transmit.get_by_role("button", name="+ Add").click()
    transmit.get_by_label("Header name", exact=True).nth(1).fill("Range")
    set_these = header_list(form, "set_headers")
    set_these.get_by_label("Header name", exact=True).fill("ccc-header")
    # A person cannot type CR/LF into an input, and a text input strips line breaks
    # from its value; a hidden input keeps them, as a crafted request would send them.
    set_these.get_by_label("Header value", exact=True).evaluate(
        "(el) => { el.type = 'hidden'; el.value = 'a\\r\\nb'; }"
    )
    form.get_by_role("button", name="OK").click()

    expect(transmit.locator(".field-error")).to_have_text(
        [
            "Transmit these headers: X-OSS-Meta-A cannot be transmitted: headers starting with x-oss- are reserved by OSS.",
            "Transmit these headers: Range cannot be transmitted: mirroring always fetches the whole object.",
        ]
    )
    expect(set_these.locator(".field-error")).to_have_text(
        "Set these headers: the value of ccc-header must not contain line breaks (CR/LF)."
    )
    form = section.locator("#rule-form")
    expect(form.get_by_label("File Name Prefix", exact=True)).to_have_value("media/")
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(
        "media.example.com"
    )
    expect(form.get_by_label("Path", exact=True)).to_have_value("assets")
    expect(transmit.get_by_label("Header name", exact=True).nth(0)).to_have_value(
        "X-OSS-Meta-A"
    )
    expect(transmit.get_by_label("Header name", exact=True).nth(1)).to_have_value(
        "Range"
    )
    expect(set_these.get_by_label("Header name", exact=True)).to_have_value(
        "ccc-header"
    )
    # The HTML parser turns CR LF into LF in the attribute; the line break is still shown.
    value = set_these.get_by_label("Header value", exact=True)
    assert value.get_attribute("value") == "a\nb"
    assert not photos.origin_rules.exists()


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (
            "10.0.0.1",
            "10.0.0.1 is a private-network address; origins on internal networks are not allowed.",
        ),
        (
            "localhost",
            re.compile(
                r"^localhost is .+; origins on internal networks are not allowed\.$"
            ),
        ),
    ],
)
def test_private_origin_is_refused_inline(
    log_on, settings, alice, photos, host, message
):
    settings.ORIGIN_ALLOW_PRIVATE = False
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    form = open_create_form(section)
    form.get_by_label("File Name Suffix", exact=True).fill(".png")
    form.get_by_label("Domain or IP", exact=True).fill(host)
    form.get_by_role("button", name="OK").click()

    expect(form.locator("#field-host .field-error")).to_have_text(message)
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(host)
    expect(form.get_by_label("File Name Suffix", exact=True)).to_have_value(".png")
    assert not photos.origin_rules.exists()


def test_duplicate_prefix_and_suffix_is_refused_inline(
    log_on, alice, photos, make_rule
):
    make_rule(photos, key_prefix="img/", key_suffix=".jpg")
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    form = open_create_form(section)
    form.get_by_label("Redirection", exact=True).check()
    expect(form.get_by_label("Redirection Code", exact=True)).to_be_visible()
    form.get_by_label("File Name Prefix", exact=True).fill("img/")
    form.get_by_label("File Name Suffix", exact=True).fill(".jpg")
    form.get_by_label("Domain or IP", exact=True).fill("cdn.example.com")
    form.get_by_label("Redirection Code", exact=True).select_option("307")
    form.get_by_role("button", name="OK").click()

    expect(form.locator("#field-key_prefix .field-error")).to_have_text(
        "Another rule already has prefix 'img/' and suffix '.jpg'. "
        "Each rule needs a different File Name Prefix or Suffix."
    )
    expect(form.get_by_label("Redirection", exact=True)).to_be_checked()
    expect(form.get_by_label("Redirection Code", exact=True)).to_have_value("307")
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value(
        "cdn.example.com"
    )
    assert photos.origin_rules.count() == 1


def test_cancel_closes_the_form_without_saving(log_on, alice, photos, make_rule):
    make_rule(photos, key_prefix="keep/", host="keep.example.com")
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    page.evaluate(MARK_PAGE)

    form = open_create_form(section)
    form.get_by_label("Domain or IP", exact=True).fill("never.example.com")
    form.get_by_role("link", name="Cancel").click()
    expect(section.locator("#rule-form")).to_have_count(0)

    rule_rows(section).get_by_role("link", name="Edit").click()
    form = section.locator("#rule-form")
    form.get_by_label("Domain or IP", exact=True).fill("changed.example.com")
    form.get_by_role("link", name="Cancel").click()
    expect(section.locator("#rule-form")).to_have_count(0)

    # The panel can open again after a Cancel.
    open_create_form(section)
    assert page.evaluate(SAME_PAGE)
    assert list(photos.origin_rules.values_list("host", flat=True)) == [
        "keep.example.com"
    ]


def test_another_users_rule_urls_are_404(
    log_on, live_server, alice, bob, photos, make_rule
):
    rule = make_rule(photos, key_prefix="secret/")
    page = log_on(bob)
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()

    for url_name, args in [
        ("console-rules", ["alice-photos"]),
        ("console-rule-create", ["alice-photos"]),
        ("console-rule-mode-fields", ["alice-photos"]),
        ("console-rule-header-row", ["alice-photos"]),
        ("console-rule-edit", ["alice-photos", rule.pk]),
        ("console-rule-clear", ["alice-photos", rule.pk]),
    ]:
        response = page.goto(live_server.url + reverse(url_name, args=args))
        assert response.status == 404, url_name
    for url_name, data in [
        ("console-rule-edit", {"mode": "mirror", "host": "evil.example.com"}),
        ("console-rule-clear", {}),
        ("console-rule-move", {"direction": "up"}),
    ]:
        response = page.request.post(
            live_server.url + reverse(url_name, args=["alice-photos", rule.pk]),
            form={"csrfmiddlewaretoken": token, **data},
        )
        assert response.status == 404, url_name
    rule.refresh_from_db()
    assert (rule.host, rule.position) == ("www.example.com", 1)


def test_advanced_options_and_a_starts_with_condition_are_saved(log_on, alice, photos):
    page = log_on(alice)
    section = open_rule_editor(page, "alice-photos")
    form = open_create_form(section)
    form.get_by_label("File Name Prefix", exact=True).fill("private/")
    form.get_by_label("Domain or IP", exact=True).fill("primary.example.com")

    condition = header_list(form, "include_headers")
    condition.get_by_label("Header name", exact=True).fill("X-Tenant")
    condition.get_by_label("Comparison", exact=True).select_option(label="Starts with")
    condition.get_by_label("Header value", exact=True).fill("blue")

    alternates = header_list(form, "alternates")
    expect(alternates).to_be_hidden()  # Advanced starts closed
    form.locator("#rule-advanced").get_by_text("Advanced", exact=True).click()
    expect(alternates).to_be_visible()
    alternates.get_by_label("Alternate number", exact=True).fill("1")
    alternates.get_by_label("Alternate origin URL", exact=True).fill(
        "https://first.example.com/"
    )
    alternates.get_by_role("button", name="+ Add").click()
    expect(alternates.locator(".header-row")).to_have_count(2)
    alternates.get_by_label("Alternate number", exact=True).nth(1).fill("2")
    alternates.get_by_label("Alternate origin URL", exact=True).nth(1).fill(
        "https://second.example.com/"
    )
    form.get_by_label("Switch origins on any error", exact=True).check()
    form.get_by_label("Origin authentication", exact=True).select_option(
        label="S3 Signature V4"
    )
    form.get_by_label("Origin AccessKey ID", exact=True).fill("AKIDBROWSER")
    form.get_by_label("Origin AccessKey secret", exact=True).fill("browser-s3cret")
    form.get_by_label("Origin region", exact=True).fill("us-east-1")
    form.get_by_role("button", name="OK").click()

    expect(page.get_by_role("status")).to_have_text("Rule 1 saved.")
    row = rule_rows(section)
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(2)).to_have_text(
        "HTTP 404 · prefix private/ · header X-Tenant starts with blue"
    )
    expect(row.locator("td.summary")).to_have_text(
        "queryString ✗ · follow 3xx ✓ · alternate https://first.example.com/ · "
        "alternate https://second.example.com/ · switch on any error · "
        "signed S3V4 as AKIDBROWSER"
    )
    rule = BackToOriginRule.objects.get(bucket=photos)
    assert rule.include_headers == [["X-Tenant", "blue", "starts_with"]]
    assert rule.alternates == [
        [1, "https://first.example.com/"],
        [2, "https://second.example.com/"],
    ]
    assert unseal_secret(rule.auth_sealed_secret) == "browser-s3cret"

    # Edit opens with Advanced shown, the values in place and the secret not.
    row.get_by_role("link", name="Edit").click()
    form = section.locator("#rule-form")
    expect(header_list(form, "alternates")).to_be_visible()
    expect(form.get_by_label("Alternate origin URL", exact=True).nth(1)).to_have_value(
        "https://second.example.com/"
    )
    expect(form.get_by_label("Comparison", exact=True)).to_have_value("starts_with")
    expect(form.get_by_label("Origin AccessKey secret", exact=True)).to_have_value("")
    expect(
        form.get_by_text("A secret is stored. Leave blank to keep it.")
    ).to_be_visible()
    assert "browser-s3cret" not in page.content()
