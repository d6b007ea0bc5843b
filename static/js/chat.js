// The chat page: conversations, streamed answers (Server-Sent Events over fetch), citations, feedback.
// Everything is built with DOM nodes and textContent: no text from the server or the model is ever parsed
// as HTML, so a model cannot inject markup, scripts or off-list links.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const els = {
    list: $("conversation-list"),
    empty: $("conversation-empty"),
    search: $("conversation-search"),
    newChat: $("new-chat"),
    title: $("conversation-title"),
    messages: $("messages"),
    welcome: $("welcome"),
    status: $("chat-status"),
    form: $("composer"),
    question: $("question"),
    send: $("send"),
    stop: $("stop"),
    dialog: $("passage-dialog"),
    sidebar: $("chat-sidebar"),
    openSidebar: $("open-sidebar"),
    closeSidebar: $("close-sidebar"),
  };
  const state = { conversationId: null, conversations: [], controller: null, streaming: false };

  // --- HTTP -------------------------------------------------------------------------------------------

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: options.method || "GET",
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && (data.detail || data.message)) || friendlyHttpError(response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function friendlyHttpError(status) {
    if (status === 401 || status === 403) return "Your session has ended. Please reload the page and sign in again.";
    if (status === 404) return "That conversation no longer exists.";
    if (status === 429) return "You have reached a limit for now. Please wait a moment and try again.";
    if (status >= 500) return "Docent is having trouble right now. Please try again in a moment.";
    return "Something went wrong. Please try again.";
  }

  function setStatus(text, isError) {
    els.status.textContent = text || "";
    els.status.classList.toggle("error", Boolean(isError));
  }

  // --- safe Markdown ------------------------------------------------------------------------------------

  function allowedLink(href) {
    let url;
    try {
      url = new URL(href, window.location.origin);
    } catch (_) {
      return null;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return null;
    if (url.origin === window.location.origin) return url.href;
    return config.allowedLinkHosts.includes(url.hostname) ? url.href : null;
  }

  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\s][^*\n]*\*)|(\[[^\]\n]+\]\([^)\s]+\))|(\[\d{1,3}\])/g;

  function renderInline(parent, text, citations) {
    let last = 0;
    for (const match of text.matchAll(INLINE)) {
      if (match.index > last) parent.append(text.slice(last, match.index));
      const token = match[0];
      if (match[1]) {
        const code = document.createElement("code");
        code.textContent = token.slice(1, -1);
        parent.append(code);
      } else if (match[2]) {
        const strong = document.createElement("strong");
        renderInline(strong, token.slice(2, -2), citations);
        parent.append(strong);
      } else if (match[3]) {
        const em = document.createElement("em");
        renderInline(em, token.slice(1, -1), citations);
        parent.append(em);
      } else if (match[4]) {
        const split = token.indexOf("](");
        const label = token.slice(1, split);
        const href = allowedLink(token.slice(split + 2, -1));
        if (href) {
          const a = document.createElement("a");
          a.href = href;
          a.rel = "noopener noreferrer";
          a.textContent = label;
          parent.append(a);
        } else {
          parent.append(label); // a link to a host that is not allowed is shown as its text only
        }
      } else if (match[5]) {
        const number = Number(token.slice(1, -1));
        if (citations && citations.has(number)) {
          parent.append(citationButton(number, citations.get(number)));
        } // a marker that matches no shown passage is dropped
      }
      last = match.index + token.length;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function citationButton(number, citation) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "citation-ref";
    button.textContent = String(number);
    button.dataset.number = String(number);
    const where = citation.title ? `${citation.title}${locatorText(citation.locator) ? ", " + locatorText(citation.locator) : ""}` : "unavailable passage";
    button.setAttribute("aria-label", `Source ${number}: ${where}`);
    button.title = where;
    return button;
  }

  function renderMarkdown(container, text, citations) {
    container.replaceChildren();
    const lines = text.replace(/\r\n/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (/^```/.test(line)) {
        const pre = document.createElement("pre");
        const code = document.createElement("code");
        const body = [];
        i += 1;
        while (i < lines.length && !/^```/.test(lines[i])) body.push(lines[i++]);
        i += 1;
        code.textContent = body.join("\n");
        pre.append(code);
        container.append(pre);
      } else if (/^\s*$/.test(line)) {
        i += 1;
      } else if (/^#{1,4}\s/.test(line)) {
        const h = document.createElement("h3");
        renderInline(h, line.replace(/^#+\s*/, ""), citations);
        container.append(h);
        i += 1;
      } else if (/^\s*([-*•]|\d+[.)])\s+/.test(line)) {
        const ordered = /^\s*\d+[.)]\s+/.test(line);
        const list = document.createElement(ordered ? "ol" : "ul");
        while (i < lines.length && /^\s*([-*•]|\d+[.)])\s+/.test(lines[i])) {
          const li = document.createElement("li");
          renderInline(li, lines[i].replace(/^\s*([-*•]|\d+[.)])\s+/, ""), citations);
          list.append(li);
          i += 1;
        }
        container.append(list);
      } else {
        const paragraph = [];
        while (i < lines.length && !/^\s*$/.test(lines[i]) && !/^```/.test(lines[i]) && !/^\s*([-*•]|\d+[.)])\s+/.test(lines[i])) {
          paragraph.push(lines[i++]);
        }
        const p = document.createElement("p");
        renderInline(p, paragraph.join(" "), citations);
        container.append(p);
      }
    }
  }

  function locatorText(locator) {
    if (!locator) return "";
    const parts = [];
    if (locator.page !== undefined && locator.page !== null && locator.page !== "") parts.push(`page ${locator.page}`);
    if (locator.section) parts.push(`section ${locator.section}`);
    return parts.join(", ");
  }

  // --- conversations ------------------------------------------------------------------------------------

  async function loadConversations() {
    const q = els.search.value.trim();
    try {
      state.conversations = await api(`/api/v1/conversations/${q ? "?q=" + encodeURIComponent(q) : ""}`);
    } catch (error) {
      setStatus(error.message, true);
      return;
    }
    renderConversationList();
  }

  function renderConversationList() {
    els.list.replaceChildren();
    els.empty.hidden = state.conversations.length > 0;
    for (const conversation of state.conversations) {
      const li = document.createElement("li");
      li.className = "conversation-item";
      li.dataset.id = String(conversation.id);
      if (conversation.id === state.conversationId) li.classList.add("active");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "conversation-open";
      open.textContent = conversation.title;
      if (conversation.id === state.conversationId) open.setAttribute("aria-current", "true");
      open.addEventListener("click", () => openConversation(conversation.id));
      const rename = document.createElement("button");
      rename.type = "button";
      rename.className = "linkish conversation-rename";
      rename.textContent = "Rename";
      rename.setAttribute("aria-label", `Rename ${conversation.title}`);
      rename.addEventListener("click", () => startRename(li, conversation));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "linkish conversation-delete";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete ${conversation.title}`);
      remove.addEventListener("click", () => deleteConversation(conversation));
      li.append(open, rename, remove);
      els.list.append(li);
    }
  }

  function startRename(li, conversation) {
    const form = document.createElement("form");
    form.className = "rename-form";
    const input = document.createElement("input");
    input.value = conversation.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", "New title");
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "secondary";
    save.textContent = "Save";
    form.append(input, save);
    li.replaceChildren(form);
    input.focus();
    input.select();
    input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") renderConversationList();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      if (!title) return;
      try {
        await api(`/api/v1/conversations/${conversation.id}/`, { method: "PATCH", body: { title } });
        if (conversation.id === state.conversationId) els.title.textContent = title;
        setStatus("Conversation renamed.");
      } catch (error) {
        setStatus(error.message, true);
      }
      await loadConversations();
    });
  }

  async function deleteConversation(conversation) {
    if (!window.confirm(`Delete “${conversation.title}”? This cannot be undone.`)) return;
    try {
      await api(`/api/v1/conversations/${conversation.id}/`, { method: "DELETE" });
      setStatus("Conversation deleted.");
    } catch (error) {
      setStatus(error.message, true);
    }
    if (conversation.id === state.conversationId) newConversation();
    await loadConversations();
  }

  function newConversation() {
    state.conversationId = null;
    els.title.textContent = "New conversation";
    els.messages.replaceChildren(els.welcome);
    els.welcome.hidden = false;
    renderConversationList();
    els.question.focus();
  }

  async function openConversation(id) {
    let conversation;
    try {
      conversation = await api(`/api/v1/conversations/${id}/`);
    } catch (error) {
      setStatus(error.message, true);
      return;
    }
    state.conversationId = conversation.id;
    els.title.textContent = conversation.title;
    els.messages.replaceChildren();
    const answers = conversation.messages.filter((m) => m.role === "assistant");
    const lastAnswer = answers[answers.length - 1];
    for (const message of conversation.messages) {
      if (message.role === "user") {
        addUserMessage(message.content);
      } else {
        const view = addAssistantMessage();
        finishAssistantMessage(view, message, message === lastAnswer);
      }
    }
    closeSidebarOnPhone();
    renderConversationList();
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  // --- messages -------------------------------------------------------------------------------------------

  function addUserMessage(text) {
    els.welcome.hidden = true;
    const article = document.createElement("article");
    article.className = "message user";
    const body = document.createElement("div");
    body.className = "message-body";
    body.textContent = text;
    article.append(body);
    els.messages.append(article);
    return article;
  }

  function addAssistantMessage() {
    els.welcome.hidden = true;
    const node = $("message-template").content.firstElementChild.cloneNode(true);
    node.classList.add("assistant");
    els.messages.append(node);
    const view = {
      node,
      label: node.querySelector(".message-label"),
      body: node.querySelector(".message-body"),
      sources: node.querySelector(".sources"),
      actions: node.querySelector(".message-actions"),
      feedbackForm: node.querySelector(".feedback-form"),
      text: "",
      citations: new Map(),
      messageId: null,
    };
    view.body.addEventListener("click", (event) => {
      const button = event.target.closest(".citation-ref");
      if (button) openCitation(view, Number(button.dataset.number));
    });
    return view;
  }

  function renderSources(view) {
    view.sources.replaceChildren();
    for (const [number, citation] of [...view.citations.entries()].sort((a, b) => a[0] - b[0])) {
      if (citation.cited === false) continue;
      const li = document.createElement("li");
      li.value = number;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "source-link";
      button.textContent = citation.available === false ? "Passage no longer available" : `${citation.title}${locatorText(citation.locator) ? " — " + locatorText(citation.locator) : ""}`;
      button.addEventListener("click", () => openCitation(view, number));
      li.append(button);
      view.sources.append(li);
    }
    view.sources.hidden = view.sources.children.length === 0;
  }

  function finishAssistantMessage(view, message, isLast) {
    view.messageId = message.id;
    view.text = message.content;
    view.citations = new Map(message.citations.map((c) => [c.number, c]));
    view.node.dataset.messageId = String(message.id);
    view.node.classList.toggle("failed", message.status === "error");
    view.label.textContent = message.label || "";
    view.label.hidden = !message.label;
    renderMarkdown(view.body, message.content, view.citations);
    renderSources(view);
    view.actions.hidden = false;
    view.actions.querySelector(".regenerate").hidden = !isLast;
    const rating = message.feedback ? message.feedback.rating : 0;
    view.actions.querySelector(".thumb.up").setAttribute("aria-pressed", String(rating === 1));
    view.actions.querySelector(".thumb.down").setAttribute("aria-pressed", String(rating === -1));
    wireActions(view);
  }

  function wireActions(view) {
    const copy = view.actions.querySelector(".copy");
    copy.onclick = async () => {
      try {
        await navigator.clipboard.writeText(view.body.innerText);
        setStatus("Answer copied.");
      } catch (_) {
        setStatus("Copying is not allowed by this browser.", true);
      }
    };
    view.actions.querySelector(".regenerate").onclick = () => ask("", true);
    for (const thumb of view.actions.querySelectorAll(".thumb")) {
      thumb.onclick = () => sendFeedback(view, thumb.classList.contains("up") ? 1 : -1, "");
    }
    view.feedbackForm.onsubmit = (event) => {
      event.preventDefault();
      const comment = view.feedbackForm.elements.comment.value;
      sendFeedback(view, view.rating || 1, comment, true);
    };
  }

  async function sendFeedback(view, rating, comment, final) {
    try {
      await api(`/api/v1/messages/${view.messageId}/feedback/`, { method: "POST", body: { rating, comment } });
    } catch (error) {
      setStatus(error.message, true);
      return;
    }
    view.rating = rating;
    view.actions.querySelector(".thumb.up").setAttribute("aria-pressed", String(rating === 1));
    view.actions.querySelector(".thumb.down").setAttribute("aria-pressed", String(rating === -1));
    if (final) {
      view.feedbackForm.hidden = true;
      setStatus("Thank you for your feedback.");
    } else {
      view.feedbackForm.hidden = false;
      view.feedbackForm.elements.comment.focus();
      setStatus("Thanks! Add a comment if you like.");
    }
  }

  async function openCitation(view, number) {
    const citation = view.citations.get(number);
    if (!citation) return;
    const title = $("passage-title");
    const text = $("passage-text");
    const linkRow = $("passage-link-row");
    linkRow.hidden = true;
    text.replaceChildren();
    if (citation.id) {
      let passage;
      try {
        passage = await api(`/api/v1/citations/${citation.id}/`);
      } catch (error) {
        setStatus(error.message, true);
        return;
      }
      if (!passage.available) {
        title.textContent = `[${number}] Passage unavailable`;
        $("passage-locator").textContent = "";
        text.textContent = "You can no longer read this passage: the document was removed or your access to it changed.";
      } else {
        title.textContent = `[${number}] ${passage.title}`;
        $("passage-locator").textContent = locatorText(passage.locator);
        for (const segment of passage.segments) {
          if (segment.highlight) {
            const mark = document.createElement("mark");
            mark.textContent = segment.text;
            text.append(mark);
          } else {
            text.append(segment.text);
          }
        }
        if (passage.document_url) {
          $("passage-link").href = passage.document_url;
          linkRow.hidden = false;
        }
      }
    } else {
      // Still streaming: the citation is not stored yet, show what the stream told us.
      title.textContent = `[${number}] ${citation.title}`;
      $("passage-locator").textContent = locatorText(citation.locator);
      text.textContent = citation.snippet || "";
    }
    els.dialog.showModal();
    $("passage-close").focus();
  }

  // --- asking: POST, read the Server-Sent Events as they arrive --------------------------------------------

  function parseEvents(buffer, onEvent) {
    let index;
    while ((index = buffer.indexOf("\n\n")) !== -1) {
      const raw = buffer.slice(0, index);
      buffer = buffer.slice(index + 2);
      let name = "message";
      const data = [];
      for (const line of raw.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
    return buffer;
  }

  function setStreaming(on) {
    state.streaming = on;
    els.send.disabled = on;
    els.stop.hidden = !on;
    els.messages.setAttribute("aria-busy", String(on));
    if (!on) els.question.focus();
  }

  async function ensureConversation() {
    if (state.conversationId) return state.conversationId;
    const conversation = await api("/api/v1/conversations/", { method: "POST", body: {} });
    state.conversationId = conversation.id;
    return conversation.id;
  }

  async function ask(question, regenerate) {
    if (state.streaming) return;
    setStatus("");
    let conversationId;
    try {
      conversationId = await ensureConversation();
    } catch (error) {
      setStatus(error.message, true);
      return;
    }
    if (regenerate) {
      const last = [...els.messages.querySelectorAll(".message.assistant")].pop();
      if (last) last.remove();
    } else {
      addUserMessage(question);
    }
    const view = addAssistantMessage();
    view.node.classList.add("streaming");
    view.body.textContent = "Searching your documents…";
    els.messages.dataset.lastAnswerTokens = "0";
    els.messages.scrollTop = els.messages.scrollHeight;
    setStreaming(true);
    state.controller = new AbortController();
    let finished = false;
    let pending = false;
    const render = () => {
      pending = false;
      renderMarkdown(view.body, view.text, view.citations);
      els.messages.scrollTop = els.messages.scrollHeight;
    };
    try {
      const response = await fetch(`/api/v1/conversations/${conversationId}/messages/`, {
        method: "POST",
        headers: { Accept: "text/event-stream", "Content-Type": "application/json", "X-CSRFToken": csrfToken },
        credentials: "same-origin",
        body: JSON.stringify(regenerate ? { regenerate: true } : { content: question }),
        signal: state.controller.signal,
      });
      if (!response.ok) {
        let detail = null;
        try {
          detail = (await response.json()).detail;
        } catch (_) {
          detail = null;
        }
        throw Object.assign(new Error(detail || friendlyHttpError(response.status)), { status: response.status });
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + value, (name, data) => {
          if (name === "citation") {
            view.citations.set(data.number, data);
          } else if (name === "token") {
            view.text += data.text;
            // How many pieces the last answer arrived in (the browser test reads it).
            els.messages.dataset.lastAnswerTokens = String(Number(els.messages.dataset.lastAnswerTokens || 0) + 1);
            if (!pending) {
              pending = true;
              window.requestAnimationFrame(render);
            }
          } else if (name === "done" || name === "error") {
            finished = true;
            if (name === "error") {
              view.node.classList.add("failed");
              setStatus(data.message, true);
            }
          }
        });
      }
    } catch (error) {
      if (error.name === "AbortError") {
        view.text = `${view.text.trim()}\n\n(Stopped.)`;
        render();
        view.node.classList.remove("streaming");
        setStatus("Stopped.");
      } else {
        view.node.classList.add("failed");
        view.body.textContent = error.message || friendlyHttpError(0);
        setStatus(error.message || friendlyHttpError(0), true);
      }
    } finally {
      state.controller = null;
      setStreaming(false);
    }
    // Show the stored answer: its citations then carry ids, and feedback can be given.
    if (finished) {
      await openConversation(conversationId);
    }
    await loadConversations();
  }

  // --- wiring ----------------------------------------------------------------------------------------------

  function closeSidebarOnPhone() {
    els.sidebar.classList.remove("open");
    els.openSidebar.setAttribute("aria-expanded", "false");
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = els.question.value.trim();
    if (!question) return;
    els.question.value = "";
    ask(question, false);
  });
  els.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      els.form.requestSubmit();
    }
  });
  els.stop.addEventListener("click", () => {
    if (state.controller) state.controller.abort();
  });
  els.newChat.addEventListener("click", () => {
    newConversation();
    closeSidebarOnPhone();
  });
  let searchTimer = null;
  els.search.addEventListener("input", () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(loadConversations, 250);
  });
  $("passage-close").addEventListener("click", () => els.dialog.close());
  els.openSidebar.addEventListener("click", () => {
    els.sidebar.classList.add("open");
    els.openSidebar.setAttribute("aria-expanded", "true");
    els.search.focus();
  });
  els.closeSidebar.addEventListener("click", closeSidebarOnPhone);

  loadConversations();
  els.question.focus();
})();
