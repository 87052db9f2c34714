// Shifa's service worker: shows Web Push notifications and opens their page when tapped.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: "Shifa", body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "Shifa", {
    body: data.body || "",
    tag: data.tag,            // one notification per tag: a repeated delivery replaces, never doubles
    data: { url: data.url || "/" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
    for (const w of windows) { if (w.url.endsWith(url) && "focus" in w) return w.focus(); }
    return clients.openWindow(url);
  }));
});
