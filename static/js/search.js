// Search page: runs the search through POST /api/v1/search/ without reloading the page and keeps the URL
// in step (?q=...), so the page also works, and can be bookmarked, without JavaScript.
(function () {
  "use strict";
  const form = document.getElementById("search-form");
  const box = document.getElementById("search-results");
  if (!form || !box) {
    return;
  }

  function paragraph(text, className) {
    const p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    return p;
  }

  function render(query, results) {
    box.replaceChildren();
    if (results.length === 0) {
      box.appendChild(paragraph("No passages you may read match \u201c" + query + "\u201d.", "card empty"));
      return;
    }
    const list = document.createElement("ol");
    list.className = "results";
    for (const hit of results) {
      const item = document.createElement("li");
      item.className = "card result";
      item.dataset.chunkId = String(hit.chunk_id);
      const title = document.createElement("h2");
      title.className = "result-title";
      title.textContent = hit.title;
      item.appendChild(title);
      item.appendChild(paragraph(hit.snippet, "snippet"));
      const where = hit.locator && hit.locator.page ? "page " + hit.locator.page + " \u00b7 " : "";
      item.appendChild(paragraph(where + "score " + hit.score.toFixed(4), "muted"));
      list.appendChild(item);
    }
    box.appendChild(list);
  }

  form.addEventListener("submit", async function (event) {
    const query = form.elements.namedItem("q").value.trim();
    if (!query) {
      return;
    }
    event.preventDefault();
    box.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.dataset.apiUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": form.dataset.csrfToken },
        body: JSON.stringify({ query: query }),
      });
      if (!response.ok) {
        throw new Error("search failed with HTTP " + response.status);
      }
      const data = await response.json();
      render(query, data.results);
      history.replaceState(null, "", "?q=" + encodeURIComponent(query));
    } catch (error) {
      box.replaceChildren(paragraph("Search is unavailable right now; please try again.", "card error"));
    } finally {
      box.removeAttribute("aria-busy");
    }
  });
})();
