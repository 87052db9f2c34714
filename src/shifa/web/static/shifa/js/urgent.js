// Treat Me Now, live: the patient's waiting page hears "accepted" and the doctors' queue hears "queue.changed" over
// a WebSocket; either one asks htmx to fetch the part of the page that changed. htmx also looks every few seconds
// on its own, so the page stays right when the socket cannot connect.
(() => {
  const live = document.querySelector("[data-urgent-live][data-ws]");
  if (!live || !("WebSocket" in window)) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}${live.dataset.ws}`;
  const wanted = live.dataset.event;
  const trigger = live.dataset.trigger;
  let delay = 1000;
  let timer = null;

  const refresh = () => {
    if (window.htmx) window.htmx.trigger(document.body, trigger);
    else location.reload();
  };

  const connect = () => {
    const socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      delay = 1000;
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type !== wanted) return;
      // Several changes at once (three patients asking together) make one refresh.
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    });
    socket.addEventListener("close", (event) => {
      // 4403/4404: not allowed or gone; the page's own polling carries on.
      if (event.code === 4403 || event.code === 4404 || event.code === 4401) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  };
  connect();
})();
