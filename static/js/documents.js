// /documents/: drag-and-drop multi-file upload, one row per file with upload and job progress.
// Each file is posted to the API on its own, then its status is polled until ready or failed.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  var input = document.getElementById("file-input");
  var zone = document.getElementById("drop-zone");
  var tbody = document.querySelector("#uploads tbody");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var api = form.dataset.api;
  var POLL_MS = 1000;

  function cell(text) { var td = document.createElement("td"); td.textContent = text; return td; }

  function addRow(file) {
    var tr = document.createElement("tr");
    tr.className = "upload-row";
    tr.dataset.file = file.name;
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    var barCell = document.createElement("td"); barCell.appendChild(bar);
    tr.append(cell(file.name), cell("uploading"), barCell, cell(""));
    tbody.appendChild(tr);
    return {
      set: function (stage, progress, message) {
        tr.children[1].textContent = stage;
        tr.dataset.stage = stage;
        bar.value = progress;
        tr.children[3].textContent = message || "";
        tr.classList.toggle("error-row", stage === "failed" || stage === "rejected");
      }
    };
  }

  function selectedGroups() {
    var select = form.querySelector("select[name=groups]");
    return select ? Array.prototype.filter.call(select.options, function (o) { return o.selected; })
      .map(function (o) { return o.value; }) : [];
  }

  function poll(id, row) {
    fetch(api + id + "/", { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
      .then(function (result) {
        var body = result[1];
        if (!result[0]) { row.set("failed", 0, body.detail || "Could not read the status."); return; }
        var note = body.status === "ready" ? body.chunk_count + " chunks" : body.error;
        row.set(body.stage, body.progress, note);
        if (body.status !== "ready" && body.status !== "failed") { setTimeout(poll, POLL_MS, id, row); }
      })
      .catch(function () { setTimeout(poll, POLL_MS * 3, id, row); });
  }

  function upload(file) {
    var row = addRow(file);
    var data = new FormData();
    data.append("file", file);
    data.append("public", form.querySelector("input[name=public]").checked ? "true" : "false");
    selectedGroups().forEach(function (name) { data.append("groups", name); });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", api);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      // The upload itself is shown as the first 10% of the bar; the job's own progress follows.
      if (event.lengthComputable) { row.set("uploading", Math.round(10 * event.loaded / event.total), ""); }
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 202) { row.set("queued", 10, ""); poll(body.id, row); return; }
      var detail = body.detail || (body.file && body.file.join(" ")) || ("Upload refused (" + xhr.status + ")");
      row.set("rejected", 0, detail);
    });
    xhr.addEventListener("error", function () { row.set("rejected", 0, "The upload did not reach the server."); });
    xhr.send(data);
  }

  function uploadAll(files) { Array.prototype.forEach.call(files, upload); }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    uploadAll(input.files);
    input.value = "";
  });
  input.addEventListener("change", function () { uploadAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) { uploadAll(event.dataTransfer.files); });
})();
