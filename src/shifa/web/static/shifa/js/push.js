// Web Push for this browser. window.shifaPush.enable() asks the permission, subscribes and tells Shifa; an element
// marked data-push-offer (e.g. after booking) is shown only when the browser can receive push and the person was
// never asked here, and asks only when its button is pressed.
(() => {
  const csrf = () => (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  const toKey = (base64) => {
    const padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };

  async function enable() {
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    const registration = await navigator.serviceWorker.ready;
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
    return response.ok;
  }

  window.shifaPush = { supported, enable };

  for (const offer of document.querySelectorAll("[data-push-offer]")) {
    if (!supported() || Notification.permission !== "default") continue;
    const button = offer.querySelector("[data-push-offer-accept]");
    const status = offer.querySelector("[data-push-status]");
    offer.hidden = false;
    button?.addEventListener("click", async () => {
      button.disabled = true;
      let ok = false;
      try {
        ok = await enable();
      } catch (error) {
        ok = false;
      }
      if (status) status.textContent = ok ? offer.dataset.done : offer.dataset.failed;
      button.hidden = ok;
      button.disabled = false;
    });
  }
})();
