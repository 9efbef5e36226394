// The chat page: turns, streaming, Stop, New chat, the Think switch, stored conversation.
"use strict";

(() => {
  const api = window.freeholdApi;
  const STORE = "freehold.conversation";
  const $ = (id) => document.getElementById(id);
  const ui = {
    model: $("model"), think: $("think"), newChat: $("new-chat"), auth: $("auth"),
    key: $("api-key"), saveKey: $("save-key"), authError: $("auth-error"),
    conversation: $("conversation"), form: $("composer"), message: $("message"),
    send: $("send"), stop: $("stop"), status: $("status"),
  };
  let turns = load();
  let running = null; // the AbortController of the reply streaming now
  let cards = []; // GET /v1/models

  function load() {
    try { return JSON.parse(localStorage.getItem(STORE)) || []; } catch (_) { return []; }
  }
  function save() { localStorage.setItem(STORE, JSON.stringify(turns)); }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function usageLine(usage) {
    if (!usage) return "";
    const parts = [`${usage.prompt_tokens} prompt tokens`, `${usage.completion_tokens} generated`];
    if (usage.tokens_per_second) parts.push(`${usage.tokens_per_second.toFixed(1)} tok/s`);
    return parts.join(" · ");
  }

  // One turn's element; an assistant turn is refreshed in place while it streams.
  function draw(turn, node) {
    node = node || element("article", "turn");
    node.dataset.role = turn.role;
    node.replaceChildren();
    if (turn.role === "user") {
      node.textContent = turn.content;
      return node;
    }
    if (turn.reasoning) {
      const details = element("details", "reasoning");
      details.append(element("summary", "", "Reasoning"), element("div", "", turn.reasoning));
      node.append(details);
    }
    const content = element("div", "content");
    window.renderMarkdown(content, turn.content || "");
    node.append(content);
    if (turn.stopped) node.append(element("p", "usage", "Stopped."));
    if (turn.error) {
      const error = element("p", "error", turn.error);
      error.setAttribute("role", "alert");
      node.append(error);
    }
    const usage = usageLine(turn.usage);
    if (usage) node.append(element("p", "usage", usage));
    return node;
  }

  function drawAll() {
    ui.conversation.replaceChildren(...turns.map((turn) => draw(turn)));
    ui.conversation.scrollTop = ui.conversation.scrollHeight;
  }

  function history() {
    return turns.filter((t) => !t.failed).map((t) => ({ role: t.role, content: t.content }));
  }

  function setRunning(controller) {
    running = controller;
    ui.send.hidden = Boolean(controller);
    ui.stop.hidden = !controller;
    ui.status.textContent = controller ? "Generating…" : "";
  }

  async function send(text) {
    const user = { role: "user", content: text };
    const reply = { role: "assistant", content: "", reasoning: "" };
    turns.push(user, reply);
    const messages = history().slice(0, -1);
    drawAll();
    const node = ui.conversation.lastElementChild;
    const controller = new AbortController();
    setRunning(controller);
    const started = performance.now();
    let first = null;
    try {
      const body = { messages };
      if (!ui.think.disabled) body.think = ui.think.checked;
      if (ui.model.value) body.model = ui.model.value;
      const usage = await api.chat(body, (delta) => {
        first = first || performance.now();
        reply.content += delta.content;
        reply.reasoning += delta.reasoning;
        draw(reply, node);
        ui.conversation.scrollTop = ui.conversation.scrollHeight;
      }, controller.signal);
      if (usage) {
        const seconds = (performance.now() - (first || started)) / 1000;
        reply.usage = { ...usage, tokens_per_second: usage.completion_tokens / Math.max(seconds, 1e-3) };
      }
    } catch (error) {
      if (error.name === "AbortError") {
        reply.stopped = true;
      } else {
        reply.error = error.message;
        if (!reply.content) user.failed = reply.failed = true; // not sent again
        if (error.status === 401) askForKey(error.message);
      }
    } finally {
      setRunning(null);
      draw(reply, node);
      save();
    }
  }

  function askForKey(message) {
    ui.auth.hidden = false;
    ui.authError.textContent = message;
    ui.key.focus();
  }

  async function loadModels() {
    try {
      cards = await api.models();
      ui.auth.hidden = true;
      ui.authError.textContent = "";
      const chosen = localStorage.getItem("freehold.model");
      ui.model.replaceChildren(...cards.map((m) => new Option(m.id, m.id, false, m.id === chosen)));
      syncThink();
    } catch (error) {
      if (error.status === 401) {
        askForKey(api.hasKey() ? error.message : "This server needs an API key.");
      } else {
        ui.status.textContent = `Could not list the models: ${error.message}`;
      }
    }
  }

  // Think follows the model: off limits where it cannot think; its default where unset.
  function syncThink() {
    const card = cards.find((m) => m.id === ui.model.value) || {};
    const meta = card.meta || {};
    const stored = localStorage.getItem("freehold.think");
    ui.think.disabled = !meta.reasoning;
    ui.think.checked = stored === null ? meta.default === "on" : stored === "true";
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.message.value.trim();
    if (!text || running) return;
    ui.message.value = "";
    send(text);
  });
  ui.message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.stop.addEventListener("click", () => running && running.abort());
  ui.newChat.addEventListener("click", () => {
    if (running) running.abort();
    turns = [];
    save();
    drawAll();
    ui.message.focus();
  });
  ui.saveKey.addEventListener("click", () => {
    api.setKey(ui.key.value.trim());
    ui.key.value = "";
    loadModels();
  });
  ui.model.addEventListener("change", () => {
    localStorage.setItem("freehold.model", ui.model.value);
    syncThink();
  });
  ui.think.addEventListener("change", () => localStorage.setItem("freehold.think", ui.think.checked));

  drawAll();
  loadModels();
})();
