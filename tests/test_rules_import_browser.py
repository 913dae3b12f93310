"""Export → Import → Replace rules in a real Chromium: download the rules, lose one,
bring them back from the file after looking at the differences."""

import pytest
from playwright.sync_api import expect

from origin.models import BackToOriginRule
from tests.conftest import PASSWORD
from tests.test_console_rules_browser import open_rule_editor, rule_rows

pytestmark = pytest.mark.browser


@pytest.fixture
def logged_on_page(page, live_server, alice):
    page.goto(f"{live_server.url}/console/")
    page.get_by_label("Username", exact=True).fill(alice.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log on").click()
    expect(page.get_by_test_id("user-name")).to_have_text(alice.username)
    return page


def test_export_then_import_shows_the_differences_and_replaces_the_rules(
    logged_on_page, photos, make_rule, tmp_path
):
    make_rule(photos, key_prefix="images/", path="static", pass_query_string=True)
    make_rule(
        photos,
        mode="redirect",
        key_prefix="old/",
        host="new.example.com",
        redirect_code=302,
    )
    make_rule(photos, key_suffix=".css", host="css.example.com")
    page = logged_on_page
    page.reload()  # the bucket list as it is now, alice-photos included
    section = open_rule_editor(page, "alice-photos")

    with page.expect_download() as download:
        section.get_by_role("link", name="Export").click()
    assert download.value.suggested_filename == "alice-photos-back-to-origin.xml"
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)

    # Lose rule 2, then bring the file back.
    section.locator("#rule-list tbody tr").nth(1).get_by_role(
        "link", name="Clear"
    ).click()
    page.get_by_role("dialog", name="Clear rule").get_by_role(
        "button", name="Clear"
    ).click()
    expect(rule_rows(section)).to_have_count(2)

    section.get_by_role("link", name="Import").click()
    panel = page.get_by_role("region", name="Import rules")
    file_input = panel.get_by_label("WebsiteConfiguration XML file")
    expect(file_input).to_be_focused()
    file_input.set_input_files(str(exported))
    panel.get_by_role("button", name="Show differences").click()

    preview = panel.get_by_test_id("import-preview")
    expect(preview.locator("tbody tr td:nth-child(2)")).to_have_text(
        ["Unchanged", "Changed", "Added"]
    )
    expect(preview.locator("tbody tr").nth(2)).to_contain_text(
        "Mirroring · HTTP 404 · suffix .css · https://css.example.com/"
    )
    assert BackToOriginRule.objects.filter(bucket=photos).count() == 2

    panel.get_by_role("button", name="Replace rules").click()

    expect(page.get_by_role("status")).to_have_text(
        "Rules replaced from alice-photos-back-to-origin.xml: 3 rules now."
    )
    expect(rule_rows(section).locator("td:nth-child(3)")).to_have_text(
        [
            "HTTP 404 · prefix images/",
            "HTTP 404 · prefix old/",
            "HTTP 404 · suffix .css",
        ]
    )
    expect(page.get_by_role("region", name="Import rules")).to_have_count(0)
    assert list(
        BackToOriginRule.objects.filter(bucket=photos).values_list(
            "position", "mode", "redirect_code"
        )
    ) == [(1, "mirror", 301), (2, "redirect", 302), (3, "mirror", 301)]

    # The same file again: nothing left to replace.
    section.get_by_role("link", name="Import").click()
    panel = page.get_by_role("region", name="Import rules")
    panel.get_by_label("WebsiteConfiguration XML file").set_input_files(str(exported))
    panel.get_by_role("button", name="Show differences").click()
    expect(panel.get_by_test_id("import-no-differences")).to_be_visible()
    expect(panel.get_by_role("button", name="Replace rules")).to_have_count(0)
