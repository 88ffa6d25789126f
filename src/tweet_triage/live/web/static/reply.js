// The reply boxes (queue, all tweets, conversation): live count, saved replies by shortcode, the
// suggested saved reply, sending through /api/replies and following delivery, and presence.
(() => {
  "use strict";
  const body = document.body;
  const csrf = body.dataset.csrf;
  const readJson = (id, fallback) => {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : fallback;
  };
  const saved = readJson("saved-replies", []);
  const rules = readJson("x-text-rules", null);
  if (!csrf || !rules) return;
  const HEARTBEAT_MS = 2000;
  const FOLLOW_MS = 1000;
  const status = document.getElementById("status");

  async function call(method, url, payload) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    if (response.status === 401) {  // the session expired: log in, then back to this page
      const back = window.location.pathname + window.location.search;
      window.location.assign(`/login?${new URLSearchParams({ next: back, unsaved: "1" })}`);
    }
    const answer = await response.json().catch(() => ({}));
    return { status: response.status, answer };
  }

  const parts = (form) => ({
    box: form.closest(".reply-box"),
    text: form.querySelector("textarea[name=text]"),
    savedId: form.querySelector("input[name=saved_reply_id]"),
    count: form.querySelector(".weighted"),
    picker: form.querySelector(".picker"),
    suggestion: form.querySelector(".suggestion"),
    presence: form.querySelector(".presence"),
    say: form.querySelector(".reply-status"),
    send: form.querySelector("button.send"),
  });

  function recount(form) {
    const { text, count, send } = parts(form);
    const used = weightedLength(text.value, rules);
    count.textContent = `${used} / ${rules.limit}`;
    count.classList.toggle("over", used > rules.limit);
    send.disabled = form.dataset.busy === "1";
  }

  async function useSaved(form, savedId, replacing) {
    const p = parts(form);
    const tweet = p.box.dataset.tweet;
    const { status: code, answer } = await call(
      "GET", `/api/saved-replies/${savedId}/text?${new URLSearchParams({ tweet_id: tweet })}`,
    );
    if (code !== 200) { p.say.textContent = answer.detail || "that saved reply is gone"; return; }
    const value = p.text.value;
    const at = replacing === null ? -1 : value.lastIndexOf(replacing);  // the shortcode typed last
    p.text.value = at < 0 ? answer.text
      : value.slice(0, at) + answer.text + value.slice(at + replacing.length);
    p.savedId.value = answer.id;
    p.picker.hidden = true;
    recount(form);
    p.text.focus();
  }

  // "/thanks " (a known shortcode, then a space) becomes the saved reply's text; while typing
  // a shortcode, the matching saved replies are offered to click.
  function pick(form, event) {
    const p = parts(form);
    const typed = p.text.value.slice(0, p.text.selectionEnd).match(/(?:^|\s)(\/[a-z0-9_-]*)(\s?)$/);
    p.picker.replaceChildren();
    p.picker.hidden = true;
    if (!typed) return;
    const [, code, space] = typed;
    const matches = saved.filter((s) => s.shortcode.startsWith(code)).slice(0, 8);
    const exact = saved.find((s) => s.shortcode === code);
    if (exact && space) { useSaved(form, exact.id, code + space); return; }
    if (event === "commit" && matches.length) {  // Tab takes the exact one, else the first offered
      useSaved(form, (exact || matches[0]).id, code);
      return;
    }
    for (const s of matches) {
      const choice = document.createElement("button");
      choice.type = "button";
      choice.className = "pick";
      choice.dataset.saved = s.id;
      choice.dataset.replacing = code;
      choice.textContent = `${s.shortcode} · ${s.title}`;
      p.picker.append(choice);
    }
    p.picker.hidden = matches.length === 0;
  }

  async function suggest(form) {
    const p = parts(form);
    if (p.suggestion.dataset.asked) return;
    p.suggestion.dataset.asked = "1";
    const { status: code, answer } = await call("GET", `/api/suggestions/${p.box.dataset.tweet}`);
    if (code !== 200 || !answer.saved_reply) return;
    p.suggestion.dataset.saved = answer.saved_reply.id;
    p.suggestion.textContent = `Suggested: ${answer.saved_reply.shortcode} · ${answer.saved_reply.title}`;
    p.suggestion.hidden = false;
  }

  function showDelivery(form, reply) {
    const p = parts(form);
    p.say.replaceChildren();
    p.say.dataset.status = reply.status;
    p.say.dataset.reply = reply.id;
    if (reply.status === "sent") {
      p.say.append("sent");
      if (reply.x_url) {
        const link = Object.assign(document.createElement("a"), {
          href: reply.x_url, textContent: "view on X", target: "_blank", rel: "noopener noreferrer",
        });
        p.say.append(" · ", link);
      }
      p.text.value = "";
      p.savedId.value = "";
      form.dataset.resend = "";
    } else if (reply.status === "failed") {
      p.say.append(`failed: ${reply.error || "refused by X"}. Edit the text and send again.`);
      p.text.value = reply.text;
      form.dataset.resend = reply.id;
      p.send.textContent = "Edit and resend";
    } else {
      const retry = reply.retry_at ? ` (${reply.error}; next try ${new Date(reply.retry_at).toLocaleTimeString()})` : "";
      p.say.append(`queued${retry}`);
    }
    recount(form);
    if (status) status.textContent = `reply ${reply.id}: ${reply.status}`;
  }

  async function follow(form, replyId) {
    for (;;) {
      const { status: code, answer } = await call("GET", `/api/replies/${replyId}`);
      if (code !== 200) return;
      showDelivery(form, answer);
      if (answer.status !== "queued") return;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    }
  }

  async function send(form, confirm) {
    const p = parts(form);
    form.dataset.busy = "1";
    recount(form);
    const resend = form.dataset.resend;
    const sent = resend
      ? await call("POST", `/api/replies/${resend}/resend`, { text: p.text.value })
      : await call("POST", "/api/replies", {
        tweet_id: p.box.dataset.tweet,
        text: p.text.value,
        confirm,
        saved_reply_id: p.savedId.value ? Number(p.savedId.value) : null,
      });
    form.dataset.busy = "";
    recount(form);
    p.say.replaceChildren();
    if (sent.status === 202) {
      p.send.textContent = "Send reply";
      form.dataset.sent = "1";
      showDelivery(form, sent.answer);
      follow(form, sent.answer.id);
      return;
    }
    p.say.append(sent.answer.detail || `not sent (HTTP ${sent.status})`);
    if (sent.status === 409 && sent.answer.replied_by) {
      const again = Object.assign(document.createElement("button"), {
        type: "button", className: "confirm", textContent: "Send anyway",
      });
      p.say.append(" ", again);
    }
  }

  document.addEventListener("input", (event) => {
    const form = event.target.closest("form.reply");
    if (!form || event.target.name !== "text") return;
    if (!event.target.value.trim()) parts(form).savedId.value = "";
    recount(form);
    pick(form, "input");
  });

  document.addEventListener("keydown", (event) => {
    const form = event.target.closest && event.target.closest("form.reply");
    if (!form || event.target.name !== "text") return;
    if (event.key === "Tab" && !parts(form).picker.hidden) {
      event.preventDefault();
      pick(form, "commit");
    }
  });

  document.addEventListener("click", (event) => {
    const form = event.target.closest("form.reply");
    if (!form) return;
    const choice = event.target.closest("button.pick, button.suggestion");
    if (choice) {
      useSaved(form, choice.dataset.saved, choice.dataset.replacing || null);
    } else if (event.target.closest("button.confirm")) {
      send(form, true);
    }
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList.contains("reply")) return;
    event.preventDefault();
    send(form, false);
  });

  document.addEventListener("toggle", (event) => {
    const box = event.target;
    if (box.matches && box.matches(".reply-box") && box.open) {
      const form = box.querySelector("form.reply");
      recount(form);
      suggest(form);
    }
  }, true);

  // Presence: each open reply box tells the server "viewing" (or "drafting" while it holds
  // text) every HEARTBEAT_MS and shows who else is on that tweet.
  const words = (others) => others.map(
    (o) => `${o.user} is ${o.activity === "drafting" ? "replying" : "viewing"}`,
  ).join(", ");

  async function heartbeat() {
    if (document.hidden) return;
    const page = document.getElementById("presence");
    for (const box of document.querySelectorAll(".reply-box[open]")) {
      const form = box.querySelector("form.reply");
      const activity = parts(form).text.value.trim() ? "drafting" : "viewing";
      const { status: code, answer } = await call(
        "POST", "/api/presence", { tweet_id: box.dataset.tweet, activity },
      );
      if (code !== 200) continue;
      parts(form).presence.textContent = words(answer.others);
      if (page && box.closest(".reply-here")) page.textContent = words(answer.others);
    }
  }
  setInterval(heartbeat, HEARTBEAT_MS);
  heartbeat();

  for (const box of document.querySelectorAll(".reply-box[open]")) {
    const form = box.querySelector("form.reply");
    recount(form);
    suggest(form);
  }
  // The conversation's replies still queued: their delivery line follows them until X answers.
  async function followListed(delivery) {
    const replyId = delivery.closest("[data-reply]").dataset.reply;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
      const { status: code, answer } = await call("GET", `/api/replies/${replyId}`);
      if (code !== 200) return;
      if (answer.status === "queued") continue;
      delivery.dataset.status = answer.status;
      delivery.textContent = answer.status === "sent"
        ? "sent" : `failed: ${answer.error} (reload the page to edit and resend)`;
      if (answer.x_url) {
        delivery.append(" · ", Object.assign(document.createElement("a"), {
          href: answer.x_url, textContent: "view on X", target: "_blank", rel: "noopener noreferrer",
        }));
      }
      return;
    }
  }
  document.querySelectorAll("[data-reply] .delivery[data-status=queued]").forEach(followListed);
})();
