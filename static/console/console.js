// Upload progress for large files: htmx reports XHR upload progress events.
document.addEventListener("htmx:xhr:progress", (event) => {
  const form = event.target.closest("#upload-form");
  if (!form || !event.detail.lengthComputable) return;
  const bar = form.querySelector("#upload-progress");
  const status = form.querySelector("#upload-status");
  const percent = Math.round((event.detail.loaded / event.detail.total) * 100);
  bar.hidden = false;
  bar.value = percent;
  status.textContent = `Uploading… ${percent}%`;
});

// Show the chosen file names next to the picker.
document.addEventListener("change", (event) => {
  if (event.target.id !== "upload-files") return;
  const names = Array.from(event.target.files).map((file) => file.name);
  document.getElementById("upload-status").textContent = names.length ? names.join(", ") : "";
});

// Header-rule rows are removed in place; panels close without a round trip.
document.addEventListener("click", (event) => {
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const row = remove.closest(".header-row");
    const list = row.parentElement;
    row.remove();
    // Focus stays in the list: on the next row's first input, or on "+ Add".
    const next = list.querySelector(".header-row input, .header-row select");
    (next || list.closest("fieldset")?.querySelector(".add-row"))?.focus();
    return;
  }
  const close = event.target.closest("[data-close-panel]");
  if (close && window.htmx) {
    event.preventDefault();
    closePanel(close.closest("[data-panel]") || close.closest(".panel"));
  }
});

// -- panels: opened where the eye is, closed back to their trigger -------------------

// The element that issued the latest htmx request: focus returns to it when its panel closes.
let lastTrigger = null;
const panelTriggers = new WeakMap();
document.addEventListener("htmx:beforeRequest", (event) => {
  // A job's progress polls by itself ("every 1s"): no person triggered it.
  const trigger = event.detail.elt.getAttribute("hx-trigger") || "";
  if (!trigger.startsWith("every")) {
    lastTrigger = event.detail.elt;
  }
});

const FIELD_SELECTOR =
  "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled]), a[href]";

function firstField(panel) {
  const invalid = panel.querySelector(".has-error");
  const scope = invalid || panel.querySelector("form") || panel;
  return Array.from(scope.querySelectorAll(FIELD_SELECTOR)).find((el) => el.offsetParent !== null);
}

function focusReturnTarget(panel) {
  const trigger = panelTriggers.get(panel);
  if (trigger && trigger.isConnected) return trigger;
  const selector = panel.dataset.returnFocus;
  return selector ? document.querySelector(selector) : null;
}

function closePanel(panel) {
  if (!panel) return;
  const target = focusReturnTarget(panel);
  // A bare placeholder with the same id, so Create Rule / Edit / Clear can fill it again
  // (and no empty role="dialog" is left behind).
  const placeholder = document.createElement("div");
  placeholder.id = panel.id;
  panel.replaceWith(placeholder);
  if (target) target.focus();
}

function openPanel(panel) {
  if (lastTrigger && lastTrigger.isConnected && !panel.contains(lastTrigger)) {
    panelTriggers.set(panel, lastTrigger);
  }
  const field = firstField(panel);
  panel.scrollIntoView({ block: "start", behavior: "instant" });
  if (field) field.focus({ preventScroll: true });
}

// Where a swap put a panel: scroll it into view and focus its first (or first invalid) field.
// event.target is the settled element: for an outerHTML swap, the new one.
document.addEventListener("htmx:afterSettle", (event) => {
  const target = event.target;
  if (!target || !target.isConnected || !target.matches) return;
  const panel = target.matches("[data-panel]") ? target : target.querySelector("[data-panel]");
  if (panel) openPanel(panel);
});

// A panel closed by a round trip (Cancel with hx-get): focus goes back to its trigger.
document.addEventListener("htmx:beforeSwap", (event) => {
  const cancel = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (!cancel || !cancel.matches || !cancel.matches("[data-cancel]")) return;
  const panel = cancel.closest("[data-panel]");
  pendingFocus = panel ? panel.dataset.returnFocus : null;
});
let pendingFocus = null;
document.addEventListener("htmx:afterSettle", () => {
  if (!pendingFocus) return;
  const target = document.querySelector(pendingFocus);
  pendingFocus = null;
  if (target) target.focus();
});

// Escape closes the open panel (as Cancel does) when focus is inside it.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const panel = document.activeElement && document.activeElement.closest("[data-panel]");
  if (!panel) return;
  const cancel = panel.querySelector("[data-close-panel], [data-cancel]");
  if (!cancel) return;
  event.preventDefault();
  cancel.click();
});

// After Save / Move / Clear: focus the changed row (or the status) and highlight it briefly.
document.addEventListener("htmx:afterSettle", (event) => {
  const section = event.target;
  if (!section || !section.isConnected || section.id !== "back-to-origin-section") return;
  const changed = section.dataset.changedRow && document.getElementById(section.dataset.changedRow);
  const status = section.querySelector("#rule-status");
  if (changed) {
    changed.classList.add("just-changed");
    changed.addEventListener("animationend", () => changed.classList.remove("just-changed"), { once: true });
    (status && status.textContent.trim() ? status : changed).scrollIntoView({ block: "nearest" });
    changed.scrollIntoView({ block: "nearest" });
    changed.focus({ preventScroll: true });
  } else if (status && status.textContent.trim()) {
    status.scrollIntoView({ block: "nearest" });
    status.focus({ preventScroll: true });
  }
});

// The error summary's links focus the field they name.
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-focus-field]");
  if (!link) return;
  const block = document.getElementById(`field-${link.dataset.focusField}`);
  const field = block && block.querySelector(FIELD_SELECTOR);
  if (!field) return;
  event.preventDefault();
  field.focus();
});

// "Split it into the fields": a whole URL pasted into Domain or IP.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-split-url]");
  if (!button) return;
  const form = button.closest("form");
  form.querySelector("[name=protocol]").value = button.dataset.protocol;
  const host = form.querySelector("[name=host]");
  host.value = button.dataset.host;
  const path = form.querySelector("[name=path]");
  if (path && button.dataset.path) path.value = button.dataset.path;
  button.closest(".split-offer").remove();
  host.focus();
});

// Copy buttons: the value goes to the clipboard; the button says so.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed: select the text";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});

// ACL: a warning while a public ACL is chosen, before OK.
document.addEventListener("change", (event) => {
  if (event.target.name !== "acl" || !event.target.form) return;
  event.target.form.querySelectorAll("[data-shown-for-acl]").forEach((note) => {
    note.hidden = note.dataset.shownForAcl !== event.target.value;
  });
});

// A full page opened at #rule-N (after a post without htmx): focus that row.
document.addEventListener("DOMContentLoaded", () => {
  const row = location.hash.startsWith("#rule-") && document.getElementById(location.hash.slice(1));
  if (row) row.focus();
});

// "Replace or delete file prefix" appears once a File Name Prefix is entered.
function syncPrefixOptions(form) {
  const prefix = form.querySelector("[name=key_prefix]");
  if (!prefix) return;
  form.querySelectorAll("[data-requires-prefix]").forEach((block) => {
    block.hidden = prefix.value.trim() === "";
  });
}
document.addEventListener("input", (event) => {
  if (event.target.name === "key_prefix") syncPrefixOptions(event.target.form);
});
document.addEventListener("htmx:afterSettle", (event) => {
  const form = event.target.closest ? event.target.closest("form") : null;
  if (form) syncPrefixOptions(form);
});

// Show only the inputs of the chosen redirection target and of ticked options.
function syncDependentFields(form) {
  const target = form.querySelector("[name=redirect_target]:checked");
  form.querySelectorAll("[data-shown-for-target]").forEach((block) => {
    block.hidden = !target || block.dataset.shownForTarget !== target.value;
  });
  form.querySelectorAll("[data-shown-when-checked]").forEach((block) => {
    const box = form.querySelector(`[name=${block.dataset.shownWhenChecked}]`);
    block.hidden = !(box && box.checked);
  });
}
document.addEventListener("change", (event) => {
  if (event.target.form && event.target.closest("#rule-form")) syncDependentFields(event.target.form);
});
document.addEventListener("htmx:afterSettle", () => {
  const form = document.getElementById("rule-form");
  if (form) syncDependentFields(form);
});

// Test a request: highlight the rule row that matched.
document.addEventListener("htmx:afterSettle", () => {
  const answer = document.querySelector("[data-matched-rule]");
  document.querySelectorAll("#rule-list tr.matched").forEach((row) => row.classList.remove("matched"));
  if (answer && answer.dataset.matchedRule) {
    const row = document.getElementById(answer.dataset.matchedRule);
    if (row) row.classList.add("matched");
  }
});
