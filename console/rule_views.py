"""Basic Settings > Back-to-Origin: the rule list and the Create Rule / Edit form."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from console.rule_forms import DryRunForm, RuleForm
from console.views import _bucket_context, _get_bucket_for_user, _page_or_partial
from origin.dry_run import dry_run
from origin.models import BackToOriginRule, OriginFetch
from origin.rule_warnings import bucket_warnings


def _get_rule_for_user(request, name, rule_id):
    bucket = _get_bucket_for_user(request, name)
    return bucket, get_object_or_404(BackToOriginRule, bucket=bucket, pk=rule_id)


RECENT_FETCHES = 20
FIRST_OR_LAST = {"up": "the first", "down": "the last"}


def _editor_context(request, bucket, **extra):
    rules = list(bucket.origin_rules.order_by("position"))
    counts = OriginFetch.objects.counts_by_rule(bucket)
    for rule in rules:
        rule.fetch_counts = counts.get(rule.pk)
    return _bucket_context(
        request,
        bucket,
        "settings",
        rules=rules,
        rules_editing=True,
        rule_warnings=bucket_warnings(request, bucket, rules),
        max_rules=settings.BACK_TO_ORIGIN_MAX_RULES,
        at_rule_limit=len(rules) >= settings.BACK_TO_ORIGIN_MAX_RULES,
        recent_fetches=bucket.origin_fetches.all()[:RECENT_FETCHES],
        **{"dry_run_form": DryRunForm(), **extra},
    )


def _render_editor(request, bucket, partial="console/_rule_editor.html", **extra):
    """The settings page with the rule editor open, or one partial of it for htmx."""
    ctx = _editor_context(request, bucket, **extra)
    return _page_or_partial(request, "console/bucket_settings.html", partial, ctx)


def _rule_list_after_change(request, bucket, changed_rule=None):
    """htmx swaps the fresh rule list in, the changed row marked for focus and a brief
    highlight; a plain post redirects to the row, so a reload repeats nothing."""
    if request.htmx:
        return _render_editor(request, bucket, changed_rule=changed_rule)
    anchor = f"#rule-{changed_rule.pk}" if changed_rule else "#rule-list"
    return redirect(reverse("console-rules", args=[bucket.name]) + anchor)


@login_required
@vary_on_headers("HX-Request")
@require_GET
def rule_list(request, name):
    return _render_editor(request, _get_bucket_for_user(request, name))


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def rule_create(request, name):
    bucket = _get_bucket_for_user(request, name)
    return _rule_form(request, bucket, BackToOriginRule(bucket=bucket))


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def rule_edit(request, name, rule_id):
    bucket, rule = _get_rule_for_user(request, name, rule_id)
    return _rule_form(request, bucket, rule)


def _rule_form(request, bucket, rule):
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            form.instance.save_in_order()
        except ValidationError as error:  # lost a race for the last free slot
            form.add_error(None, error)
        else:
            messages.success(request, f"Rule {form.instance.position} saved.")
            response = _rule_list_after_change(request, bucket, form.instance)
            if not request.htmx:
                return response
            # The form targets its own panel; once saved, the rule list replaces the section.
            return reswap(retarget(response, "#back-to-origin-section"), "outerHTML")
    return _render_editor(
        request, bucket, "console/_rule_form.html", form=form, editing_rule=rule
    )


@login_required
@require_GET
def rule_mode_fields(request, name):
    """Swap the Mirroring / Redirection fields, keeping what was typed."""
    bucket = _get_bucket_for_user(request, name)
    rule_id = request.GET.get("rule_id")
    rule = (
        get_object_or_404(BackToOriginRule, bucket=bucket, pk=rule_id)
        if rule_id
        else BackToOriginRule(bucket=bucket)
    )
    form = RuleForm.for_mode_switch(request.GET, rule)
    return render(
        request,
        "console/_rule_mode_fields.html",
        {"bucket": bucket, "form": form, "oob": True},
    )


@login_required
@require_GET
def rule_header_row(request, name):
    """One empty row for a header list, appended in place."""
    _get_bucket_for_user(request, name)
    field_name = request.GET.get("list", "")
    if field_name not in RuleForm.ROW_LISTS:
        field_name = "pass_headers"
    pairs = RuleForm.base_fields[field_name].pairs
    return render(
        request,
        "console/_header_row.html",
        {"field_name": field_name, "pairs": pairs, "row": ["", ""] if pairs else ""},
    )


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def rule_clear(request, name, rule_id):
    bucket, rule = _get_rule_for_user(request, name, rule_id)
    if request.method == "POST":
        rule.clear()
        messages.success(request, f"Rule {rule.position} cleared.")
        return _rule_list_after_change(request, bucket)
    return _render_editor(
        request, bucket, "console/_rule_clear_confirm.html", clearing_rule=rule
    )


@login_required
@vary_on_headers("HX-Request")
@require_POST
def rule_move(request, name, rule_id):
    bucket, rule = _get_rule_for_user(request, name, rule_id)
    direction = "up" if request.POST.get("direction") == "up" else "down"
    was = rule.position
    if rule.move(-1 if direction == "up" else 1):
        messages.success(
            request, f"Rule {was} moved {direction}: it is now rule {rule.position}."
        )
    else:
        messages.info(request, f"Rule {was} is already {FIRST_OR_LAST[direction]}.")
    return _rule_list_after_change(request, bucket, rule)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def rule_dry_run(request, name):
    """Test a request: what a GET for this missing key would do (no fetch, nothing saved)."""
    bucket = _get_bucket_for_user(request, name)
    form = DryRunForm(request.POST)
    answer = dry_run(bucket, form.cleaned_request()) if form.is_valid() else None
    return _render_editor(
        request,
        bucket,
        "console/_dry_run.html",
        dry_run_form=form,
        dry_run_answer=answer,
    )
