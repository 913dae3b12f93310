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
