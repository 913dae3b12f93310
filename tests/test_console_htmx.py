"""The console's htmx plumbing: the partial for htmx, the page for a plain request,
`Vary: HX-Request` on every view that tells them apart, and swap targets in the templates."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from buckets.models import AccessKey
from console import urls as console_urls
from origin import jobs

HTMX = {"HX-Request": "true"}

RULE_POST = {
    "mode": "mirror",
    "http_status": "404",
    "key_prefix": "b/",
    "protocol": "https",
}


@dataclass
class Console:
    """What the requests below point at: alice's bucket, an object, a rule, a key."""

    bucket: object
    rule: object
    key: object
    job: object

    def url(self, name, on=None, query=""):
        args = {"bucket": [self.bucket.name], "rule": [self.bucket.name, self.rule.pk]}
        args["key"] = [self.key.key_id]
        args["job"] = [self.bucket.name, self.job.pk]
        args["job-pause"] = [*args["job"], "pause"]
        path = reverse(name, args=args.get(on, []))
        return f"{path}?{query}" if query else path


@pytest.fixture
def console(bucket, put_object, make_rule, alice):
    put_object(bucket, "docs/a.txt", b"a")
    key, _ = AccessKey.create_for(alice)
    job = jobs.create_job(bucket, alice, kind="warmup", keys=["a/x.txt"])
    return Console(bucket, make_rule(bucket, key_prefix="a/"), key, job)


@dataclass
class Case:
    name: str
    on: str | None = None  # which URL arguments: "bucket", "rule", "key" or none
    query: str = ""
    post: dict | None = None
    partial: str = ""  # how the htmx answer begins; empty for a redirect
    saves_rule: bool = False  # a saved rule form: the one answer the server retargets


PAGE_OR_PARTIAL = [
    Case("console-bucket-create", partial='<form id="bucket-create-form"'),
    Case("console-files", "bucket", partial='<div id="file-table">'),
    Case(
        "console-object",
        "bucket",
        "key=docs/a.txt",
        partial='<div class="panel" id="object-detail"',
    ),
    Case(
        "console-object-delete",
        "bucket",
        "key=docs/a.txt",
        partial='<div class="panel confirm" id="delete-confirm"',
    ),
    Case(
        "console-acl",
        "bucket",
        "edit=1",
        partial='<section class="card settings-section" id="acl-section"',
    ),
    Case(
        "console-rules",
        "bucket",
        partial='<section class="card settings-section" id="back-to-origin-section"',
    ),
    Case(
        "console-rule-create",
        "bucket",
        partial='<div id="rule-form-panel" class="panel rule-form"',
    ),
    Case(
        "console-rule-edit",
        "rule",
        partial='<div id="rule-form-panel" class="panel rule-form"',
    ),
    Case(
        "console-rule-clear",
        "rule",
        partial='<div id="rule-form-panel" class="panel confirm"',
    ),
    Case(
        "console-rule-dry-run",
        "bucket",
        post={"key": "a/x.txt"},
        partial='<div id="dry-run"',
    ),
    Case("console-access-keys", partial='<section class="card" id="access-keys"'),
    Case(
        "console-bucket-delete",
        "bucket",
        partial='<section class="card danger-zone" id="bucket-delete-section"',
    ),
    Case(
        "console-access-key-delete",
        "key",
        partial='<section class="card" id="access-keys"',
    ),
    Case(
        "console-access-key-create",
        post={},
        partial='<section class="card" id="access-keys"',
    ),
]

# Changes: a plain post is redirected (so a reload repeats nothing); htmx gets a swap
# or a client redirect.
AFTER_A_CHANGE = [
    Case("console-bucket-create", post={"name": "alice-new", "acl": "private"}),
    Case("console-bucket-delete", "bucket", post={}),
    Case("console-files-upload", "bucket", post={"prefix": "docs/"}),
    Case("console-folder-create", "bucket", post={"name": "new"}),
    Case("console-object-delete", "bucket", post={"key": "docs/a.txt"}),
    Case(
        "console-acl",
        "bucket",
        post={"acl": "public-read"},
        partial='<section class="card settings-section" id="acl-section"',
    ),
    Case(
        "console-rule-create",
        "bucket",
        post={**RULE_POST, "host": "b.example.com"},
        partial='<section class="card settings-section" id="back-to-origin-section"',
        saves_rule=True,
    ),
    Case(
        "console-rule-edit",
        "rule",
        post={**RULE_POST, "host": "c.example.com"},
        partial='<section class="card settings-section" id="back-to-origin-section"',
        saves_rule=True,
    ),
    Case(
        "console-rule-clear",
        "rule",
        post={},
        partial='<section class="card settings-section" id="back-to-origin-section"',
    ),
    Case(
        "console-rule-move",
        "rule",
        post={"direction": "down"},
        partial='<section class="card settings-section" id="back-to-origin-section"',
    ),
    Case(
        "console-access-key-toggle",
        "key",
        post={},
        partial='<section class="card" id="access-keys"',
    ),
    Case(
        "console-access-key-delete",
        "key",
        post={},
        partial='<section class="card" id="access-keys"',
    ),
]

PAGE_OR_PARTIAL += [
    Case(
        "console-rules-import",
        "bucket",
        partial='<div id="rule-form-panel" class="panel rules-import"',
    ),
    Case(
        "console-rules-import-confirm",
        "bucket",
        post={},
        partial='<div id="rule-form-panel" class="panel rules-import"',
    ),
]

# Warm up (console/job_views.py).
PAGE_OR_PARTIAL += [
    Case("console-warmup", "bucket", partial='<section id="warmup-section"'),
    Case("console-job", "job", partial='<div id="job-'),
]
AFTER_A_CHANGE += [
    Case(
        "console-warmup-start",
        "bucket",
        post={"source": "keys", "keys": "a/y.txt", "concurrency": "4"},
        partial='<section id="warmup-section"',
    ),
    Case(
        "console-refresh-start",
        "bucket",
        post={"prefix": "a/"},
        partial='<section id="warmup-section"',
    ),
    Case("console-job-control", "job-pause", post={}, partial='<div id="job-'),
    Case(
        "console-object-refetch",
        "bucket",
        post={"key": "docs/a.txt"},
        partial='<div id="job-',
    ),
]

BRANCHING = PAGE_OR_PARTIAL + AFTER_A_CHANGE

# The same answer for htmx and plain requests: a page, a download, or a fragment
# only htmx asks for.
SAME_FOR_BOTH = {
    "console-home",
    "console-bucket",
    "console-settings",
    "console-object-download",
    "console-rule-mode-fields",
    "console-rule-header-row",
    "console-rules-export",
}


def case_id(case):
    return f"{'post' if case.post is not None else 'get'} {case.name}"


def send(client, console, case, headers):
    url = console.url(case.name, case.on, case.query)
    if case.post is None:
        return client.get(url, headers=headers)
    return client.post(url, case.post, headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize("case", PAGE_OR_PARTIAL, ids=case_id)
def test_htmx_gets_the_partial_and_a_plain_request_the_page(
    alice_client, console, case
):
    partial = send(alice_client, console, case, HTMX)
    page = send(alice_client, console, case, {})

    assert partial.status_code == page.status_code == 200
    assert "<html" not in partial.text
    assert partial.text.lstrip().startswith(case.partial)
    assert "<html" in page.text
    assert case.partial in page.text  # the page includes the same partial


@pytest.mark.django_db
@pytest.mark.parametrize("case", AFTER_A_CHANGE, ids=case_id)
def test_after_a_change_htmx_gets_a_swap_or_a_client_redirect_and_a_plain_post_a_redirect(
    alice_client, console, case
):
    response = send(alice_client, console, case, HTMX)

    assert response.status_code == 200
    if case.partial:
        assert response.text.lstrip().startswith(case.partial)
        assert "HX-Redirect" not in response
    else:
        assert response.text == ""
        assert response["HX-Redirect"].startswith("/console/")


@pytest.mark.django_db
@pytest.mark.parametrize("case", AFTER_A_CHANGE, ids=case_id)
def test_after_a_change_a_plain_post_is_redirected(alice_client, console, case):
    response = send(alice_client, console, case, {})
    assert response.status_code == 302
    assert response.url.startswith("/console/")


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
@pytest.mark.parametrize("case", BRANCHING, ids=case_id)
def test_every_view_that_branches_on_htmx_varies_on_hx_request(
    alice_client, console, case, headers
):
    response = send(alice_client, console, case, headers)
    vary = [header.strip() for header in response["Vary"].split(",")]
    assert "HX-Request" in vary


def test_every_console_url_is_known_to_branch_or_not():
    """A new console view lands in one of the two lists above, and so gets tested."""
    names = {pattern.name for pattern in console_urls.urlpatterns}
    assert names == {case.name for case in BRANCHING} | SAME_FOR_BOTH
    assert not SAME_FOR_BOTH & {case.name for case in BRANCHING}


@pytest.mark.django_db
@pytest.mark.parametrize("case", BRANCHING, ids=case_id)
def test_only_a_saved_rule_form_is_retargeted_by_the_server(
    alice_client, console, case
):
    response = send(alice_client, console, case, HTMX)
    if case.saves_rule:
        # The form targets its own panel; saved, the rule list replaces the section.
        assert response["HX-Retarget"] == "#back-to-origin-section"
        assert response["HX-Reswap"] == "outerHTML"
    else:
        assert "HX-Retarget" not in response
        assert "HX-Reswap" not in response


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "on", "query", "section_id"),
    [
        ("console-settings", "bucket", "", "acl-section"),
        ("console-settings", "bucket", "", "back-to-origin-section"),
        ("console-rules", "bucket", "", "back-to-origin-section"),
        ("console-access-keys", None, "", "access-keys"),
    ],
)
def test_each_section_is_the_target_of_what_it_holds(
    alice_client, console, name, on, query, section_id
):
    # Buttons and forms inside inherit the target; only those that fill a panel
    # (Create Rule, Edit, Clear, Test) name their own.
    response = alice_client.get(console.url(name, on, query))
    assert f'id="{section_id}" hx-target="this" hx-swap="outerHTML">' in response.text
    for retired in ["#acl-section", "#access-keys", "#back-to-origin-section"]:
        assert f'hx-target="{retired}"' not in response.text
