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
    remove.closest(".header-row").remove();
    return;
  }
  const close = event.target.closest("[data-close-panel]");
  if (close && window.htmx) {
    event.preventDefault();
    // A bare placeholder with the same id, so Create Rule / Edit / Clear can fill it again
    // (and no empty role="dialog" is left behind).
    const panel = close.closest(".panel");
    const placeholder = document.createElement("div");
    placeholder.id = panel.id;
    panel.replaceWith(placeholder);
  }
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
