// The offline page: lists the pages the service worker saved for reading offline (newest first), read from the
// browser's cache. Nothing personal is in the page itself: the titles come from the saved copies.
(() => {
  const list = document.querySelector("[data-saved-pages]");
  const empty = document.querySelector("[data-saved-empty]");
  document.querySelector("[data-retry]")?.addEventListener("click", () => location.reload());
  if (!list || !("caches" in window)) return;

  const titleOf = async (response) => {
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    return (doc.querySelector("h1")?.textContent || doc.title || "").trim();
  };
  const savedAt = (response) => {
    const date = new Date(response.headers.get("Date") || "");
    if (Number.isNaN(date.getTime())) return "";
    return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      dateStyle: "medium",
      timeStyle: "short",
    }).format(date);
  };

  (async () => {
    const names = (await caches.keys()).filter((name) => name.startsWith("shifa-pages-"));
    const entries = [];
    for (const name of names) {
      const cache = await caches.open(name);
      for (const request of await cache.keys()) entries.push({ cache, request });
    }
    for (const { cache, request } of entries.reverse()) {
      const response = await cache.match(request);
      if (!response) continue;
      const url = new URL(request.url);
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = url.pathname + url.search;
      link.textContent = (await titleOf(response.clone())) || url.pathname;
      item.append(link);
      const when = savedAt(response);
      if (when) {
        const time = document.createElement("span");
        time.className = "muted";
        time.textContent = ` · ${when}`;
        item.append(time);
      }
      list.append(item);
    }
    if (empty) empty.hidden = list.children.length > 0;
  })();
})();
