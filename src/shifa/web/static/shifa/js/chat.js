// A conversation with the care team, live over its WebSocket: messages appear as they are written, text is sent
// over the socket (Enter sends, Shift+Enter starts a new line), read receipts and "… is typing" show as they
// happen. Without this script (or while the socket is down) the form is an ordinary form that posts the message;
// a file always goes that way, and the page fetches new messages every few seconds instead. Every message carries
// the writer's client_id, so that sending it twice — a double press, a resend after the connection came back —
// keeps one.
(() => {
  const root = document.querySelector("[data-chat]");
  if (!root || !("WebSocket" in window)) return;

  const side = root.dataset.side;
  const text = (name) => root.dataset[name] || "";
  const list = root.querySelector("[data-messages]");
  const form = root.querySelector("[data-chat-form]");
  const body = form.querySelector("textarea[name=body]");
  const file = form.querySelector("input[type=file]");
  const clientIdInput = form.querySelector("input[name=client_id]");
  const sendButton = form.querySelector("[data-send]");
  const status = form.querySelector("[data-chat-status]");
  const typing = root.querySelector("[data-typing]");
  const announce = root.querySelector("[data-announce]");
  const template = root.querySelector("template[data-message-template]");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}${root.dataset.ws}`;
  const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });

  let socket = null;
  let delay = 1000;
  let lastTypingSent = 0;
  let lastReadSent = "";
  let typingTimer = null;
  const pending = new Map(); // client_id → {body, element}, in the order they were written
  const awaiting = []; // client_ids sent over this connection, answered in order by message.sent or an error

  const newClientId = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
  };
  const open = () => socket && socket.readyState === WebSocket.OPEN;
  const send = (type, data) => open() && socket.send(JSON.stringify({ type, data }));
  const say = (message) => {
    status.textContent = message;
  };
  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const toBottom = () => {
    list.scrollTop = list.scrollHeight;
  };
  const items = () => Array.from(list.querySelectorAll("[data-message]"));

  const setReceipt = (element, state) => {
    const receipt = element.querySelector("[data-receipt]");
    if (!receipt) return;
    receipt.dataset.receipt = state;
    receipt.textContent = text({ read: "textRead", sent: "textSent", sending: "textSending", failed: "textFailed" }[state]);
  };

  const build = (data, { mine, pendingId } = {}) => {
    const element = template.content.firstElementChild.cloneNode(true);
    element.dataset.side = data.side;
    if (mine) {
      element.classList.add("chat-message--mine");
      element.dataset.mine = "";
    }
    if (data.id) {
      element.id = `message-${data.id}`;
      element.dataset.message = data.id;
    }
    if (pendingId) {
      element.dataset.clientId = pendingId;
      element.classList.add("chat-message--pending");
    }
    element.querySelector("[data-sender]").textContent = data.sender ? data.sender.name : "";
    const time = element.querySelector("time");
    const at = data.created_at ? new Date(data.created_at) : new Date();
    time.dateTime = at.toISOString();
    time.textContent = timeFormat.format(at);
    const bodyElement = element.querySelector("[data-body]");
    if (data.body) {
      bodyElement.textContent = data.body;
      bodyElement.style.whiteSpace = "pre-wrap";
    } else {
      bodyElement.remove();
    }
    const attachment = element.querySelector("[data-attachment]");
    if (data.attachment && data.id) {
      const link = attachment.querySelector("a");
      link.href = root.dataset.attachmentUrl.replace("__message__", data.id);
      link.querySelector("bdi").textContent = data.attachment.name;
      const size = Math.max(1, Math.round((data.attachment.size || 0) / 1024));
      attachment.querySelector("span").textContent = text("textKb").replace("__size__", size);
    } else {
      attachment.remove();
    }
    if (mine) setReceipt(element, pendingId ? "sending" : "sent");
    else element.querySelector("[data-receipt]").remove();
    return element;
  };

  const add = (element) => {
    const stick = nearBottom() || element.dataset.mine !== undefined;
    list.querySelector("[data-empty]")?.remove();
    list.append(element);
    if (stick) toBottom();
  };

  const confirmSent = (clientId, id) => {
    const entry = pending.get(clientId);
    if (!entry) return;
    pending.delete(clientId);
    const element = entry.element;
    element.classList.remove("chat-message--pending", "chat-message--failed");
    if (id && !document.getElementById(`message-${id}`)) {
      element.id = `message-${id}`;
      element.dataset.message = id;
    } else if (id) {
      element.remove(); // the message arrived on its own before its acknowledgement
      return;
    }
    setReceipt(element, "sent");
  };

  // The other side has read up to this message: one's own messages up to it are read.
  const readUpTo = (messageId) => {
    const all = items();
    const index = all.findIndex((element) => element.dataset.message === messageId);
    if (index < 0) return;
    all.slice(0, index + 1).forEach((element) => {
      if (element.dataset.mine !== undefined) setReceipt(element, "read");
    });
  };

  const markRead = () => {
    if (document.visibilityState !== "visible") return;
    const theirs = items().filter((element) => element.dataset.side !== side);
    const last = theirs[theirs.length - 1];
    if (!last || last.dataset.message === lastReadSent) return;
    if (send("read", { message_id: last.dataset.message })) lastReadSent = last.dataset.message;
  };

  const showTyping = (name) => {
    typing.textContent = text("textTyping").replace("__name__", name);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => {
      typing.textContent = "";
    }, 5000);
  };

  const received = (message) => {
    const data = message.data || {};
    switch (message.type) {
      case "message.created": {
        if (document.getElementById(`message-${data.id}`)) return;
        const mine = data.side === side;
        if (mine && data.client_id && pending.has(data.client_id)) {
          confirmSent(data.client_id, data.id);
          return;
        }
        add(build(data, { mine }));
        if (!mine) {
          typing.textContent = "";
          announce.textContent = text("textNew").replace("__name__", data.sender ? data.sender.name : "");
          readUpTo(data.id); // answering, they have seen what came before
          markRead();
        }
        return;
      }
      case "message.sent":
        awaiting.shift();
        confirmSent(data.client_id, data.id);
        return;
      case "message.read":
        if (data.side !== side) readUpTo(data.message_id);
        return;
      case "typing":
        showTyping(data.name || "");
        return;
      case "error":
        if (Array.isArray(data.errors)) {
          const clientId = awaiting.shift();
          const entry = pending.get(clientId);
          if (entry) {
            pending.delete(clientId);
            entry.element.remove();
            if (!body.value) body.value = entry.body;
          }
          say(data.errors.map((error) => error.message).join(" ") || data.detail || "");
        }
        return;
      default:
    }
  };

  // While the live connection is down (Redis away, a proxy without WebSockets, a poor network) the page asks for
  // the messages after the last one it shows every few seconds, so that an answer does not wait for a reload.
  const pollEvery = Number(root.dataset.pollSeconds || 5) * 1000;
  let pollTimer = null;
  const lastShown = () => {
    const shown = items().filter((element) => element.dataset.message);
    return shown.length ? shown[shown.length - 1].dataset.message : "";
  };
  const catchUp = async () => {
    const after = lastShown();
    if (!after) return;
    const query = new URLSearchParams({ after, read: document.visibilityState === "visible" ? "1" : "0" });
    try {
      const response = await fetch(`${form.getAttribute("action")}?${query}`, {
        headers: { "HX-Request": "true" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const holder = document.createElement("template");
      holder.innerHTML = await response.text();
      let theirs = null;
      for (const element of holder.content.querySelectorAll("[data-message]")) {
        if (document.getElementById(element.id)) continue;
        add(element);
        if (element.dataset.side !== side) theirs = element;
      }
      if (theirs) {
        const sender = theirs.querySelector("[data-sender]");
        announce.textContent = text("textNew").replace("__name__", sender ? sender.textContent : "");
      }
    } catch {
      // offline as well: try again later
    }
  };
  const poll = async () => {
    pollTimer = null;
    if (open()) return;
    await catchUp();
    if (!open()) pollTimer = setTimeout(poll, pollEvery);
  };
  const startPolling = () => {
    if (pollTimer === null) pollTimer = setTimeout(poll, pollEvery);
  };

  const connect = () => {
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      if (pollTimer !== null) {
        clearTimeout(pollTimer);
        pollTimer = null;
        catchUp(); // what came between the last look and the connection
      }
      delay = 1000;
      awaiting.length = 0;
      say("");
      lastReadSent = "";
      for (const [clientId, entry] of pending) {
        awaiting.push(clientId);
        setReceipt(entry.element, "sending");
        send("message.send", { body: entry.body, client_id: clientId });
      }
      markRead();
    });
    socket.addEventListener("message", (event) => {
      try {
        received(JSON.parse(event.data));
      } catch {
        // not a message of ours
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if ([4401, 4403, 4404].includes(event.code)) return; // no longer allowed: the form still posts
      for (const entry of pending.values()) setReceipt(entry.element, "failed");
      if (pending.size) say(text("textOffline"));
      startPolling();
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  };

  form.addEventListener("submit", (event) => {
    if (file && file.files.length) {
      // Files go with the form itself; the same client_id makes a second press harmless.
      setTimeout(() => {
        sendButton.disabled = true;
      }, 0);
      return;
    }
    if (!open()) return; // the ordinary form post
    event.preventDefault();
    const written = body.value;
    if (!written.trim()) {
      say(text("textEmpty"));
      body.focus();
      return;
    }
    const clientId = clientIdInput.value || newClientId();
    const element = build(
      { side, body: written, sender: { name: root.dataset.me || "" } },
      { mine: true, pendingId: clientId },
    );
    pending.set(clientId, { body: written, element });
    awaiting.push(clientId);
    add(element);
    send("message.send", { body: written, client_id: clientId });
    body.value = "";
    clientIdInput.value = newClientId();
    say("");
    body.focus();
  });

  body.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.isComposing) return;
    event.preventDefault();
    if (form.requestSubmit) form.requestSubmit(sendButton);
    else sendButton.click();
  });

  body.addEventListener("input", () => {
    const now = Date.now();
    if (body.value && now - lastTypingSent > 3000 && send("typing", {})) lastTypingSent = now;
  });

  document.addEventListener("visibilitychange", markRead);

  // "Load earlier messages" puts them above: keep the messages one was reading where they were.
  let heightBefore = null;
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (list.contains(event.target)) heightBefore = list.scrollHeight;
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (heightBefore === null) return;
    list.scrollTop += list.scrollHeight - heightBefore;
    heightBefore = null;
  });

  if (!location.hash) toBottom();
  connect();
})();
