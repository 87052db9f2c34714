// The notifications page: live entries over WebSocket, and turning Web Push on for this browser.
(() => {
  const list = document.querySelector("[data-notifications]");

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
  const push = window.shifaPush; // push.js, loaded before this script
  if (!push || !push.supported()) {
    button.disabled = true;
    status.textContent = button.dataset.unsupported;
    return;
  }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      status.textContent = (await push.enable()) ? button.dataset.done : button.dataset.failed;
    } catch (error) {
      status.textContent = button.dataset.failed;
    } finally {
      button.disabled = false;
    }
  });
})();
