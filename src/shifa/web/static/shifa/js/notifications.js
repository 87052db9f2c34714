// The notifications page: live entries over WebSocket, and turning Web Push on for this browser.
(() => {
  const list = document.querySelector("[data-notifications]");
  const csrf = () => (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";

  if (list && "WebSocket" in window) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/notifications`);
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type !== "notification.created") return;
      const item = document.createElement("li");
      item.className = "notification notification--unread";
      const title = document.createElement("strong");
      title.textContent = message.data.title;
      const body = document.createElement("p");
      body.textContent = message.data.body;
      item.append(title, body);
      list.querySelector("[data-empty]")?.remove();
      list.prepend(item);
    });
  }

  const button = document.querySelector("[data-push-enable]");
  const status = document.querySelector("[data-push-status]");
  if (!button) return;
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    button.disabled = true;
    status.textContent = button.dataset.unsupported;
    return;
  }
  const toKey = (base64) => {
    const padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      const { public_key } = await (await fetch("/api/v1/push/public-key")).json();
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: toKey(public_key),
      });
      const json = subscription.toJSON();
      const response = await fetch("/api/v1/me/push-subscriptions", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ endpoint: json.endpoint, keys: json.keys }),
      });
      status.textContent = response.ok ? button.dataset.done : button.dataset.failed;
    } catch (error) {
      status.textContent = button.dataset.failed;
    } finally {
      button.disabled = false;
    }
  });
})();
