// Shifa's service worker (docs/decisions/0025-pwa.md):
// - keeps an offline shell (the /app/offline page and the static files it needs) from the moment it installs;
// - pages of the patient app: network first, and after a few seconds without an answer the copy saved on this
//   device, then the offline page; pages of the record, appointments, care plans and medicines are saved (at most
//   MAX_PAGES, oldest dropped) for reading offline, never a page the server marks no-store, never a form's answer;
// - static files: the saved copy at once, refreshed in the background (stale-while-revalidate); a file whose name
//   holds a hash of its content (collected by `shifa run`, docs/decisions/0028) never changes, so it is not refreshed,
//   and a new version of it replaces the older ones;
// - the saved pages hold health data: they are dropped on signing in or out, and when another person signs in;
// - shows Web Push notifications and opens their page when tapped.
// Nothing else is touched: the API, /accounts pages and other front ends go to the network as if it were absent.

const VERSION = "v2"; // raise to drop every cache of the previous worker when it activates
const SHELL = `shifa-shell-${VERSION}`;
const STATIC = `shifa-static-${VERSION}`;
const PAGES = `shifa-pages-${VERSION}`;
const META = `shifa-meta-${VERSION}`;
const OFFLINE_URL = "/app/offline";
const USER_KEY = "/__shifa/user"; // in META: whose pages are saved (an opaque key from the page's <meta>)
const NETWORK_TIMEOUT_MS = 4000;
const MAX_PAGES = 40;

// What the offline page (and any saved page) needs to look right without a connection, under the files' plain names;
// the static files the offline page names (hashed names once collected) are kept with them.
const SHELL_ASSETS = [
  "/static/shifa/css/shifa.css",
  "/static/shifa/js/shifa.js",
  "/static/shifa/js/pwa.js",
  "/static/shifa/js/push.js",
  "/static/shifa/js/offline.js",
  "/static/shifa/vendor/htmx.min.js",
  "/static/shifa/fonts/ibm-plex-sans-arabic-arabic-400-normal.woff2",
  "/static/shifa/fonts/ibm-plex-sans-arabic-arabic-600-normal.woff2",
  "/static/shifa/fonts/ibm-plex-sans-arabic-latin-400-normal.woff2",
  "/static/shifa/fonts/ibm-plex-sans-arabic-latin-600-normal.woff2",
  "/static/shifa/icons/favicon.svg",
  "/static/shifa/icons/icon-192.png",
  "/static/shifa/icons/apple-touch-icon.png",
];

// Pages saved for reading offline: reading pages only, not forms, payments or calls.
const SAVED_PAGES = [
  /^\/app$/,
  /^\/app\/record(\/visits(\/[0-9a-f-]{36})?|\/results\/[0-9a-f-]{36}|\/documents\/[0-9a-f-]{36}|\/reads|\/family)?$/,
  /^\/app\/appointments(\/[0-9a-f-]{36})?$/,
  /^\/app\/plans(\/[0-9a-f-]{36}(\/steps\/[0-9a-f-]{36})?)?$/,
  /^\/app\/medicines(\/[0-9a-f-]{36}\/times)?$/,
  /^\/app\/readings$/,
];

// Forms that change who is signed in: the saved pages are somebody's health data, so they go first.
const IDENTITY_CHANGES =
  /^\/accounts\/(sign-in|sign-out|two-factor|phone\/code|sign-up|invitations\/[^/]+|providers\/[^/]+\/callback)$/;

const inApp = (pathname) => pathname === "/app" || pathname.startsWith("/app/");

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const shell = await caches.open(SHELL);
      await shell.add(new Request(OFFLINE_URL, { cache: "reload" }));
      const named = staticNamedBy(await (await shell.match(OFFLINE_URL)).text());
      const assets = await caches.open(STATIC);
      await assets.addAll([...new Set([...SHELL_ASSETS, ...named])].map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const current = new Set([SHELL, STATIC, PAGES, META]);
      for (const name of await caches.keys()) {
        if (name.startsWith("shifa-") && !current.has(name)) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method !== "GET") {
    // Never answered from a cache; signing in or out only empties the saved pages on the way.
    if (request.mode === "navigate" && IDENTITY_CHANGES.test(url.pathname)) event.waitUntil(forgetPages());
    return;
  }
  if (request.mode === "navigate" && inApp(url.pathname)) {
    event.respondWith(navigate(event));
  } else if (url.pathname.startsWith("/static/") && !request.headers.has("range")) {
    staticAsset(event);
  }
});

// Pages ------------------------------------------------------------------------------------------------------------

let generation = 0; // raised when the saved pages are dropped: an answer still on its way is then not saved

async function forgetPages() {
  generation += 1;
  for (const name of await caches.keys()) {
    if (name.startsWith("shifa-pages-")) await caches.delete(name);
  }
}

function saveable(request, response) {
  if (!SAVED_PAGES.some((pattern) => pattern.test(new URL(request.url).pathname))) return false;
  if (response.status !== 200 || response.type !== "basic" || response.redirected) return false;
  if (/no-store/i.test(response.headers.get("Cache-Control") || "")) return false;
  return (response.headers.get("Content-Type") || "").startsWith("text/html");
}

async function savePage(url, response, startedIn) {
  if (startedIn !== generation) return;
  const cache = await caches.open(PAGES);
  await cache.delete(url); // put again at the end: the order of keys is the order of saving
  await cache.put(url, response);
  const keys = await cache.keys();
  for (const old of keys.slice(0, Math.max(0, keys.length - MAX_PAGES))) await cache.delete(old);
}

async function savedCopy(request) {
  const cache = await caches.open(PAGES);
  return (
    (await cache.match(request.url, { ignoreVary: true })) ||
    (await cache.match(request.url, { ignoreVary: true, ignoreSearch: true }))
  );
}

async function offlinePage() {
  const page = await caches.match(OFFLINE_URL, { cacheName: SHELL });
  return page || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
}

async function navigate(event) {
  const request = event.request;
  const startedIn = generation;
  const network = fetch(request);
  // Saved whenever the answer comes, even after the saved copy was shown for being too slow.
  event.waitUntil(
    network
      .then((response) => {
        if (saveable(request, response)) return savePage(request.url, response.clone(), startedIn);
      })
      .catch(() => {}),
  );
  let timer;
  const slow = new Promise((resolve) => {
    timer = setTimeout(resolve, NETWORK_TIMEOUT_MS, "slow");
  });
  try {
    const first = await Promise.race([network, slow]);
    if (first !== "slow") return first;
    const saved = await savedCopy(request);
    return saved || (await network); // nothing saved: a slow answer is better than none
  } catch (error) {
    return (await savedCopy(request)) || (await offlinePage());
  } finally {
    clearTimeout(timer);
  }
}

// Static files -----------------------------------------------------------------------------------------------------

const HASHED = /^(.+)\.[0-9a-f]{12}(\.[^./]+)$/; // shifa.3f2a9c1b7d4e.css: collected, never changes
const plainName = (pathname) => pathname.replace(HASHED, "$1$2");

function staticNamedBy(html) {
  return [...html.matchAll(/(?:src|href)="(\/static\/[^"?#]+)"/g)].map((match) => match[1]);
}

async function keepStatic(request, response) {
  const cache = await caches.open(STATIC);
  const path = new URL(request.url).pathname;
  if (HASHED.test(path)) {
    // The older versions of this file go: their names are in no page any more.
    for (const old of await cache.keys()) {
      const oldPath = new URL(old.url).pathname;
      if (oldPath !== path && HASHED.test(oldPath) && plainName(oldPath) === plainName(path)) await cache.delete(old);
    }
  }
  await cache.put(request, response);
}

function staticAsset(event) {
  const request = event.request;
  const fresh = () =>
    fetch(request).then(async (response) => {
      if (response.ok && response.type === "basic" && !/no-store/i.test(response.headers.get("Cache-Control") || "")) {
        await keepStatic(request, response.clone());
      }
      return response;
    });
  const saved = caches.open(STATIC).then((cache) => cache.match(request, { ignoreVary: true }));
  if (HASHED.test(new URL(request.url).pathname)) {
    event.respondWith(saved.then((cached) => cached || fresh()));
    return;
  }
  const refresh = fresh();
  event.waitUntil(refresh.catch(() => {}));
  event.respondWith(saved.then((cached) => cached || refresh));
}

// Messages from the pages (pwa.js) ---------------------------------------------------------------------------------

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "page") event.waitUntil(pageSeen(String(data.user || ""), String(data.lang || "")));
});

async function pageSeen(user, lang) {
  // Someone else is signed in than the person whose pages are saved: theirs go.
  const meta = await caches.open(META);
  const known = await meta.match(USER_KEY);
  const previous = known ? await known.text() : null;
  if (previous !== user) {
    if (previous !== null) await forgetPages();
    await meta.put(USER_KEY, new Response(user));
  }
  // The offline page in the language the person reads now.
  const shell = await caches.open(SHELL);
  const offline = await shell.match(OFFLINE_URL);
  if (lang && (!offline || offline.headers.get("Content-Language") !== lang)) {
    try {
      const fresh = await fetch(OFFLINE_URL, { cache: "no-cache" });
      if (fresh.ok) await shell.put(OFFLINE_URL, fresh);
    } catch (error) {
      // offline now: the page in the other language is still better than none
    }
  }
}

// Web Push ---------------------------------------------------------------------------------------------------------

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
