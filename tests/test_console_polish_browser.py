"""Console polish (issue 15) in a real Chromium: panels open where the eye is, feedback
is visible, the keyboard works, phones get no sideways scrolling, and axe-core finds no
critical or serious violation on any page or state.

One browser context per module stays open; each test logs on by setting a session
cookie (no log-on page round trip) and gets a fresh page.
"""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from playwright.sync_api import expect

from buckets.models import AccessKey, Bucket
from origin.models import OriginFetch

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("CONSOLE_SHOTS_DIR", "/tmp/console-shots"))
LONG_PATH = "static/assets/images/2026/catalogue/thumbnails/large"


@pytest.fixture(scope="module")
def console_context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield context
    context.close()


@pytest.fixture
def console(console_context, live_server, alice):
    """A page logged on as alice (a session cookie set on the shared context)."""
    client = Client()
    client.force_login(alice)
    session = client.cookies["sessionid"].value
    console_context.clear_cookies()
    console_context.add_cookies(
        [{"name": "sessionid", "value": session, "url": live_server.url}]
    )
    page = console_context.new_page()
    yield page
    page.close()


@pytest.fixture
def rules_page(console, photos, make_rule):
    """alice-photos with two rules and a few fetch log rows: the list is long enough that
    a panel opened at the bottom of the section would be out of view."""
    first = make_rule(photos, key_prefix="a/", host="www.example.com", path=LONG_PATH)
    second = make_rule(photos, key_prefix="b/", host="b.example.com")
    for number in range(8):
        OriginFetch.objects.create(
            bucket=photos,
            rule=first,
            rule_position=1,
            key=f"a/{number}.jpg",
            origin_url=f"https://www.example.com/{LONG_PATH}/a/{number}.jpg",
            outcome="failed",
            message="connection refused by the origin",
            duration_ms=12,
        )
    console.goto("/console/buckets/alice-photos/settings/back-to-origin/")
    expect(console.locator("#rule-list")).to_be_visible()
    return console, first, second


def in_viewport(locator):
    box = locator.bounding_box()
    viewport = locator.page.viewport_size
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= viewport["height"]
        and box["x"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
    )


def active_element(page):
    return page.evaluate(
        "() => { const el = document.activeElement; return el.id || el.name || el.tagName; }"
    )


def no_horizontal_overflow(page):
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def axe_violations(page, impacts=("critical", "serious")):
    results = Axe().run(page)
    return [
        f"{violation['id']}: {[node['target'] for node in violation['nodes']][:3]}"
        for violation in results.response["violations"]
        if violation["impact"] in impacts
    ]


# -- 1, 2, 7: panels in view, focus, Escape, feedback on the changed row -------------


def test_create_rule_opens_in_view_with_its_first_field_focused_and_escape_closes(
    rules_page,
):
    page, _, _ = rules_page
    page.get_by_role("link", name="Create Rule").click()
    first_field = page.locator("#rule-form input[name=mode]").first
    expect(first_field).to_be_focused()
    assert in_viewport(first_field)

    page.keyboard.press("Escape")
    expect(page.locator("#rule-form")).to_have_count(0)
    expect(page.locator("#create-rule")).to_be_focused()


def test_edit_opens_in_view_and_cancel_returns_focus_to_edit(rules_page):
    page, _, second = rules_page
    page.locator(f"#edit-rule-{second.pk}").click()
    expect(page.locator("#rule-form-title")).to_have_text("Edit Rule 2")
    first_field = page.locator("#rule-form input[name=mode]").first
    expect(first_field).to_be_focused()
    assert in_viewport(first_field)

    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#rule-form")).to_have_count(0)
    expect(page.locator(f"#edit-rule-{second.pk}")).to_be_focused()


def test_clear_confirmation_opens_in_view_and_escape_returns_focus(rules_page):
    page, first, _ = rules_page
    page.locator(f"#clear-rule-{first.pk}").click()
    dialog = page.get_by_role("dialog", name="Clear rule")
    button = dialog.get_by_role("button", name="Clear")
    expect(button).to_be_focused()
    assert in_viewport(button)

    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.locator(f"#clear-rule-{first.pk}")).to_be_focused()


def test_an_invalid_form_focuses_the_field_and_a_save_lands_on_the_row(rules_page):
    page, _, _ = rules_page
    page.get_by_role("link", name="Create Rule").click()
    form = page.locator("#rule-form")
    form.get_by_label("File Name Prefix", exact=True).fill("c/")
    form.get_by_role("button", name="OK").click()

    summary = page.get_by_test_id("error-summary")
    expect(summary).to_contain_text("Not saved: 1 thing to fix.")
    expect(summary.get_by_role("link", name="Domain or IP")).to_be_visible()
    host = form.get_by_label("Domain or IP", exact=True)
    expect(host).to_be_focused()
    assert in_viewport(host)
    expect(form.locator("#field-host .field-error")).to_have_text(
        "Domain or IP is required."
    )

    host.fill("c.example.com")
    form.get_by_role("button", name="OK").click()
    status = page.locator("#rule-status").get_by_role("status")
    expect(status).to_have_text("Rule 3 saved.")
    assert in_viewport(status)
    row = page.locator("#rule-list tbody tr").nth(2)
    expect(row).to_be_focused()
    expect(row).to_have_class("just-changed")


def test_move_says_what_happened_and_focuses_the_moved_row(rules_page):
    page, first, _ = rules_page
    page.locator(f"#rule-{first.pk}").get_by_role("button", name="Move Down").click()
    expect(page.locator("#rule-status").get_by_role("status")).to_have_text(
        "Rule 1 moved down: it is now rule 2."
    )
    moved = page.locator(f"#rule-{first.pk}")
    expect(moved).to_be_focused()
    expect(moved.locator("td").first).to_have_text("2")


def test_clear_puts_focus_on_the_status(rules_page):
    page, first, _ = rules_page
    page.locator(f"#clear-rule-{first.pk}").click()
    page.get_by_role("dialog", name="Clear rule").get_by_role(
        "button", name="Clear"
    ).click()
    status = page.locator("#rule-status")
    expect(status.get_by_role("status")).to_have_text("Rule 1 cleared.")
    expect(status).to_be_focused()


# -- 4: htmx feedback ---------------------------------------------------------------


def test_a_slow_post_shows_the_indicator_and_disables_the_buttons(rules_page):
    page, _, second = rules_page
    held = []
    page.route("**/move", lambda route: held.append(route))  # held until released
    row = page.locator(f"#rule-{second.pk}")
    row.get_by_role("button", name="Move Up").click()

    expect(row.get_by_role("button", name="Move Up")).to_be_disabled()
    expect(row.get_by_role("button", name="Move Down")).to_be_disabled()
    expect(row.locator(".busy")).to_be_visible()
    expect(row.locator(".busy")).to_have_text("Moving…")

    held[0].continue_()
    expect(page.locator("#rule-status").get_by_role("status")).to_have_text(
        "Rule 2 moved up: it is now rule 1."
    )
    expect(page.locator(".busy:visible")).to_have_count(0)


def test_a_slow_save_disables_ok(rules_page):
    page, _, _ = rules_page
    page.get_by_role("link", name="Create Rule").click()
    form = page.locator("#rule-form")
    form.get_by_label("File Name Prefix", exact=True).fill("d/")
    form.get_by_label("Domain or IP", exact=True).fill("d.example.com")
    held = []
    page.route("**/back-to-origin/create", lambda route: held.append(route))
    form.get_by_role("button", name="OK").click()

    expect(form.get_by_role("button", name="OK")).to_be_disabled()
    expect(form.locator(".busy")).to_have_text("Saving…")
    held[0].continue_()
    expect(page.locator("#rule-status").get_by_role("status")).to_have_text(
        "Rule 3 saved."
    )


# -- 3: hidden means hidden -----------------------------------------------------------


def test_hidden_fields_are_not_displayed(rules_page):
    page, _, _ = rules_page
    page.get_by_role("link", name="Create Rule").click()
    form = page.locator("#rule-form")
    form.get_by_label("Redirection", exact=True).check()
    expect(form.get_by_label("Redirection Code", exact=True)).to_be_visible()

    affix = form.locator('[data-shown-for-target="affix"]')
    expect(affix).to_be_hidden()
    hidden_displays = page.evaluate(
        "() => Array.from(document.querySelectorAll('[hidden]')).map(el => getComputedStyle(el).display)"
    )
    assert hidden_displays
    assert set(hidden_displays) == {"none"}

    form.get_by_label("Add prefix or suffix", exact=True).check()
    expect(affix).to_be_visible()
    expect(form.get_by_label("Prefix", exact=True)).to_be_visible()
    form.get_by_label("Redirect to fixed URL path", exact=True).check()
    expect(affix).to_be_hidden()


# -- 9: phone width ------------------------------------------------------------------


def test_phone_width_has_no_sideways_scroll_and_urls_wrap_at_slashes(rules_page):
    page, first, _ = rules_page
    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator("#rule-list")).to_be_visible()
    assert no_horizontal_overflow(page)
    edit = page.locator(f"#edit-rule-{first.pk}")
    edit.scroll_into_view_if_needed()
    assert in_viewport(edit)

    # Every line of the long origin URL ends at a /, ? or & (or the URL's end).
    line_ends = page.locator(f"#rule-{first.pk} code.url").evaluate(
        """code => {
          const text = code.textContent, ends = [];
          const range = document.createRange();
          let lastTop = null;
          const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
          const chars = [];
          for (let node = walker.nextNode(); node; node = walker.nextNode())
            for (let i = 0; i < node.length; i++) chars.push([node, i]);
          chars.forEach(([node, i], index) => {
            range.setStart(node, i); range.setEnd(node, i + 1);
            const top = range.getClientRects()[0].top;
            if (lastTop !== null && top > lastTop + 2) ends.push(text[index - 1]);
            lastTop = top;
          });
          return ends;
        }"""
    )
    assert line_ends, "the long URL should wrap at 390 px"
    assert set(line_ends) <= {"/", "?", "&"}

    page.get_by_role("link", name="Create Rule").click()
    expect(page.locator("#rule-form input[name=mode]").first).to_be_focused()
    assert no_horizontal_overflow(page)
    panel_right = page.locator("#rule-form-panel").bounding_box()
    for box in page.locator("#rule-form fieldset").evaluate_all(
        "sets => sets.map(s => s.getBoundingClientRect().right)"
    ):
        assert box <= panel_right["x"] + panel_right["width"]


# -- 5, 10, 11: AccessKey page, destructive actions, guidance -------------------------


def test_access_key_page_lists_buckets_and_deletes_with_an_inline_panel(
    console, photos
):
    key, _ = AccessKey.create_for(photos.owner)
    console.goto("/console/access-keys/")
    expect(console.locator("#bucket-nav .bucket-list")).to_have_text("alice-photos")

    row = console.locator(f'tr[data-key-id="{key.key_id}"]')
    row.get_by_role("link", name="Delete").click()
    dialog = console.get_by_role("dialog", name="Delete AccessKey")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    console.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(row.get_by_role("link", name="Delete")).to_be_focused()

    row.get_by_role("link", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(console.get_by_role("status")).to_have_text(
        f"AccessKey {key.key_id} deleted."
    )
    assert not AccessKey.objects.filter(pk=key.pk).exists()


def test_new_secret_has_a_copy_button(console):
    console.goto("/console/access-keys/")
    console.get_by_role("button", name="Create AccessKey").click()
    secret = console.get_by_test_id("new-key-secret").inner_text()
    console.get_by_role("button", name="Copy AccessKey Secret").click()
    expect(console.get_by_role("button", name="Copy AccessKey Secret")).to_have_text(
        "Copied"
    )
    assert console.evaluate("navigator.clipboard.readText()") == secret


def test_delete_bucket_is_disabled_with_the_reason_when_not_empty(
    console, photos, put_object
):
    put_object(photos, "keep.txt", b"x")
    console.goto("/console/buckets/alice-photos/")
    section = console.locator("#bucket-delete-section")
    expect(section.get_by_role("button", name="Delete Bucket")).to_be_disabled()
    expect(section).to_contain_text("the bucket still holds objects")
    expect(console.get_by_test_id("total-size")).to_have_text("1 byte")


def test_delete_an_empty_bucket_through_the_inline_panel(console, photos):
    console.goto("/console/buckets/alice-photos/")
    console.get_by_role("link", name="Delete Bucket").click()
    dialog = console.get_by_role("dialog", name="Delete bucket")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(console.get_by_role("link", name="Delete Bucket")).to_be_focused()

    console.get_by_role("link", name="Delete Bucket").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(console.get_by_role("status")).to_have_text("Bucket alice-photos deleted.")
    assert not Bucket.objects.filter(pk=photos.pk).exists()


def test_public_acl_choices_warn_before_ok(console, photos):
    console.goto("/console/buckets/alice-photos/settings/")
    acl = console.locator("#acl-section")
    acl.get_by_role("link", name="Edit").click()
    expect(acl.get_by_label("Private", exact=True)).to_be_focused()
    warning = acl.locator(".notice.warning:visible")
    expect(warning).to_have_count(0)
    acl.get_by_label("Public Read", exact=True).check()
    expect(warning).to_contain_text("anyone on the internet can read")
    acl.get_by_label("Public Read/Write", exact=True).check()
    expect(warning).to_contain_text("upload objects")
    acl.get_by_label("Private", exact=True).check()
    expect(warning).to_have_count(0)


def test_private_bucket_note_and_a_pasted_url_is_offered_a_split(rules_page):
    page, _, _ = rules_page
    expect(page.get_by_test_id("private-bucket-note")).to_contain_text(
        "403 AccessDenied"
    )
    page.get_by_role("link", name="Create Rule").click()
    form = page.locator("#rule-form")
    form.get_by_label("Domain or IP", exact=True).fill("http://example.com/img/")
    form.get_by_role("button", name="OK").click()
    offer = page.get_by_test_id("split-offer")
    expect(offer).to_contain_text("Domain or IP example.com and Path img")
    offer.get_by_role("button", name="Split it into the fields").click()
    expect(form.get_by_label("Protocol", exact=True)).to_have_value("http")
    expect(form.get_by_label("Domain or IP", exact=True)).to_have_value("example.com")
    expect(form.get_by_label("Path", exact=True)).to_have_value("img")
    expect(form.get_by_label("Domain or IP", exact=True)).to_be_focused()


def test_fetch_log_shows_the_failure_reason(rules_page):
    page, _, _ = rules_page
    expect(page.get_by_test_id("fetch-reason").first).to_have_text(
        "connection refused by the origin"
    )
    expect(page.get_by_test_id("fetch-reason").first).to_be_visible()


def test_do_not_transmit_help_is_not_contradictory(rules_page):
    page, _, _ = rules_page
    page.get_by_role("link", name="Create Rule").click()
    help_text = page.locator("#field-remove_headers .help").inner_text()
    assert "cannot be transmitted" not in help_text
    assert "x-drs-*" in help_text
    assert "never sent" in help_text


# -- 8, 11: error pages, favicon, titles, log-out ---------------------------------


def test_console_404_is_a_styled_page_with_a_way_back(console):
    response = console.goto("/console/buckets/no-such-bucket/")
    assert response.status == 404
    expect(console.get_by_role("heading", name="Page not found")).to_be_visible()
    console.get_by_role("link", name="Back to your buckets").click()
    expect(console.get_by_role("heading", name="Buckets", exact=True)).to_be_visible()


def test_pages_load_without_404s_and_have_their_own_titles(console, photos):
    missing = []
    console.on(
        "response",
        lambda response: (
            missing.append(response.url) if response.status == 404 else None
        ),
    )
    titles = {}
    for path in ("", "buckets/alice-photos/", "buckets/alice-photos/files/"):
        console.goto(f"/console/{path}")
        titles[path] = console.title()
    console.goto("/console/buckets/alice-photos/settings/")
    titles["settings"] = console.title()
    assert titles == {
        "": "Buckets · OSS Console",
        "buckets/alice-photos/": "Overview · alice-photos · OSS Console",
        "buckets/alice-photos/files/": "Files · alice-photos · OSS Console",
        "settings": "Basic Settings · alice-photos · OSS Console",
    }
    assert missing == []
    icon = console.locator("link[rel=icon]").get_attribute("href")
    assert console.request.get(icon).status == 200


def test_log_out_says_so(console):
    console.goto("/console/")
    console.get_by_role("button", name="Log out").click()
    expect(console.get_by_role("heading", name="Log on")).to_be_visible()
    expect(console.get_by_role("status")).to_have_text("You have logged out.")


def test_the_keyboard_alone_opens_fills_and_closes_the_rule_form(rules_page):
    page, _, _ = rules_page
    page.locator("#create-rule").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#rule-form input[name=mode]").first).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("File Name Prefix", exact=True)).to_be_focused()
    page.keyboard.type("k/")
    page.get_by_label("Domain or IP", exact=True).focus()
    page.keyboard.type("k.example.com")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#rule-status").get_by_role("status")).to_have_text(
        "Rule 3 saved."
    )
    expect(page.locator("#rule-list tbody tr").nth(2)).to_be_focused()


# -- accessibility: axe-core on every page and state ------------------------------


def test_axe_finds_nothing_serious_on_any_console_page(
    console, photos, put_object, make_rule
):
    put_object(photos, "docs/readme.txt", b"hello")
    make_rule(photos, key_prefix="a/", host="www.example.com")
    key, _ = AccessKey.create_for(photos.owner)
    base = "/console/buckets/alice-photos"
    found = {}

    def check(state):
        found[state] = axe_violations(console)

    for state, path in [
        ("home", "/console/"),
        ("create bucket", "/console/buckets/create"),
        ("overview", f"{base}/"),
        ("files", f"{base}/files/"),
        ("folder", f"{base}/files/?prefix=docs/"),
        ("object detail", f"{base}/files/object?key=docs/readme.txt"),
        ("basic settings", f"{base}/settings/"),
        ("rules", f"{base}/settings/back-to-origin/"),
        ("access keys", "/console/access-keys/"),
        ("404", "/console/buckets/nothing-here/"),
    ]:
        console.goto(path)
        check(state)

    console.goto(f"{base}/settings/back-to-origin/")
    console.get_by_role("link", name="Create Rule").click()
    expect(console.locator("#rule-form")).to_be_visible()
    check("rule form")
    console.get_by_role("button", name="OK").click()
    expect(console.get_by_test_id("error-summary")).to_be_visible()
    check("rule form with errors")
    console.get_by_label("Redirection", exact=True).check()
    expect(console.get_by_label("Redirection Code", exact=True)).to_be_visible()
    check("redirection form")
    console.keyboard.press("Escape")

    console.goto(f"{base}/settings/")
    console.locator("#acl-section").get_by_role("link", name="Edit").click()
    console.get_by_label("Public Read", exact=True).check()
    check("acl form")

    console.goto("/console/access-keys/")
    console.get_by_role("button", name="Create AccessKey").click()
    expect(console.get_by_test_id("new-secret")).to_be_visible()
    check("new secret")
    console.locator(f'tr[data-key-id="{key.key_id}"]').get_by_role(
        "link", name="Delete"
    ).click()
    check("delete key confirmation")

    console.goto(f"{base}/files/?prefix=docs/")
    console.locator('tr[data-key="docs/readme.txt"]').get_by_role(
        "link", name="Delete"
    ).click()
    expect(console.get_by_role("dialog", name="Delete object")).to_be_visible()
    check("delete object confirmation")

    console.context.clear_cookies()
    console.goto("/console/")
    expect(console.get_by_role("heading", name="Log on")).to_be_visible()
    check("log on")

    assert {state: found[state] for state in found if found[state]} == {}


def test_axe_on_an_empty_bucket_and_the_settings_without_rules(console, photos):
    found = {}
    for state, path in [
        ("overview, empty", "/console/buckets/alice-photos/"),
        ("files, empty", "/console/buckets/alice-photos/files/"),
        ("rules, none", "/console/buckets/alice-photos/settings/back-to-origin/"),
    ]:
        console.goto(path)
        found[state] = axe_violations(console)
    console.get_by_role("link", name="Create Rule").click()
    expect(console.locator("#rule-form")).to_be_visible()
    found["rule form, first rule"] = axe_violations(console)
    console.goto("/console/buckets/alice-photos/")
    console.get_by_role("link", name="Delete Bucket").click()
    expect(console.get_by_role("dialog", name="Delete bucket")).to_be_visible()
    found["delete bucket confirmation"] = axe_violations(console)
    assert {state: found[state] for state in found if found[state]} == {}


@pytest.mark.parametrize(("label", "viewport"), [("1366", DESKTOP), ("390", PHONE)])
def test_screenshots_of_the_rule_list_and_form(rules_page, label, viewport):
    page, _, _ = rules_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(viewport)
    page.reload()
    section = page.locator("#back-to-origin-section")
    expect(section).to_be_visible()
    page.screenshot(path=SHOTS / f"rule-list-{label}.png", full_page=True)
    section.scroll_into_view_if_needed()
    page.locator("#rule-list").evaluate("table => table.scrollIntoView()")
    page.screenshot(path=SHOTS / f"rule-list-{label}-view.png")
    page.get_by_role("link", name="Create Rule").click()
    expect(page.locator("#rule-form input[name=mode]").first).to_be_focused()
    page.screenshot(path=SHOTS / f"rule-form-{label}.png")
    page.screenshot(path=SHOTS / f"rule-form-{label}-full.png", full_page=True)
    page.locator("#rule-form .actions").evaluate(
        "el => el.scrollIntoView({block: 'end'})"
    )
    page.screenshot(path=SHOTS / f"rule-form-{label}-end.png")
    assert no_horizontal_overflow(page)


def test_a_bad_bucket_name_focuses_the_field(console):
    console.goto("/console/")
    name = console.get_by_label("Bucket Name")
    name.fill("Bad_Name")
    console.get_by_role("button", name="OK").click()
    expect(console.locator("#bucket-create-form .field-error")).to_be_visible()
    expect(name).to_be_focused()
    assert not Bucket.objects.filter(name="Bad_Name").exists()


def test_object_delete_confirmation_opens_in_view_from_far_down_the_list(
    console, photos, put_object
):
    for number in range(40):
        put_object(photos, f"file-{number:02}.txt", b"x")
    console.goto("/console/buckets/alice-photos/files/")
    row = console.locator('tr[data-key="file-39.txt"]')
    row.get_by_role("link", name="Delete").click()
    button = console.get_by_role("dialog", name="Delete object").get_by_role(
        "button", name="Delete"
    )
    expect(button).to_be_focused()
    assert in_viewport(button)
    console.keyboard.press("Escape")
    expect(console.get_by_role("dialog")).to_have_count(0)
    expect(row.get_by_role("link", name="Delete")).to_be_focused()
