// The inbox's only script: inlined into each page. Live refresh, decisions, keyboard triage.
(() => {
  "use strict";
  const status = document.getElementById("status");
  const live = document.querySelector("[data-live]");
  const refreshMs = Number(document.body.dataset.refreshMs) || 5000;
  let selectedId = null;
  let busy = false;

  const say = (text) => { if (status) status.textContent = text; };
  const items = () => Array.from(document.querySelectorAll("article.tweet"));

  function select(item) {
    items().forEach((el) => el.classList.toggle("selected", el === item));
    selectedId = item ? item.dataset.id : null;
    if (item) item.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.findIndex((el) => el.dataset.id === selectedId);
    select(all[Math.min(all.length - 1, Math.max(0, at < 0 ? 0 : at + step))]);
  }

  async function decide(form, decision) {
    const data = new FormData(form);
    data.set("decision", decision);
    const item = form.closest("article.tweet");
    const response = await fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (response.status === 401) {  // the session expired: log in, then back to this page
      const back = window.location.pathname + window.location.search;
      window.location.assign(`/login?${new URLSearchParams({ next: back, unsaved: "1" })}`);
      return;
    }
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      say(problem.detail || `decision not saved (HTTP ${response.status})`);
      if (response.status === 409) settle(item, "taken", "decided by someone else");
      return;
    }
    const { display } = await response.json();
    say(`${display}: tweet ${item.dataset.id}`);
    settle(item, decision, display);
  }

  // Rows decided here stay gone even if a refresh fetched before the decision was saved.
  const decided = new Set();

  function settle(item, kind, text) {
    decided.add(item.dataset.id);
    if (live && live.dataset.removeDecided) {
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      const size = document.getElementById("queue-size");
      if (size) size.textContent = Math.max(0, Number(size.textContent) - 1);
      select(next && next.matches("article.tweet") ? next : null);
    } else {
      const actions = item.querySelector(".actions");
      actions.replaceChildren(Object.assign(document.createElement("span"), {
        className: `decision ${kind}`, textContent: text,
      }));
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList.contains("decide")) return;
    event.preventDefault();
    const button = event.submitter;
    if (button && button.name === "decision") decide(form, button.value);
  });

  document.addEventListener("click", (event) => {
    const item = event.target.closest("article.tweet");
    if (item && !event.target.closest("button, a")) select(item);
  });

  async function refresh() {
    if (!live || busy || document.hidden) return;
    if (live.querySelector(".reply-box[open]")) {  // a reply being written stays put
      say("live updates paused while a reply box is open");
      return;
    }
    busy = true;
    try {
      const response = await fetch(live.dataset.live, { credentials: "same-origin" });
      if (response.redirected) { window.location.reload(); return; }
      if (!response.ok) { say(`refresh failed (HTTP ${response.status})`); return; }
      const html = await response.text();
      const holder = document.createElement("div");
      holder.innerHTML = html;
      const rows = holder.querySelector("#queue-rows");
      const current = document.getElementById("queue-rows");
      if (rows) rows.querySelectorAll("article.tweet").forEach((el) => {
        if (decided.has(el.dataset.id)) el.remove();
      });
      if (rows && current) {
        current.replaceWith(rows);
        const size = document.getElementById("queue-size");
        if (size) size.textContent = rows.dataset.queueSize;
        document.title = `Queue (${rows.dataset.queueSize}) · tweet-triage`;
        const again = items().find((el) => el.dataset.id === selectedId);
        if (again) again.classList.add("selected");
      }
      say(`updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      say("offline: retrying");
    } finally {
      busy = false;
    }
  }
  if (live) setInterval(refresh, refreshMs);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea")) return;
    const item = items().find((el) => el.dataset.id === selectedId);
    const form = item && item.querySelector("form.decide");
    const keys = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      r: () => refresh(),
      o: () => item && window.open(item.dataset.url, "_blank", "noopener"),
      h: () => form && form.querySelector(".handled") && decide(form, "handled"),
      n: () => form && form.querySelector(".not_for_us") && decide(form, "not_for_us"),
      u: () => form && form.querySelector(".needed_us") && decide(form, "needed_us"),
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    if (!item && !["r", "j", "k", "ArrowDown", "ArrowUp"].includes(event.key)) move(0);
    else action();
  });

  if (items().length) select(items()[0]);
})();
