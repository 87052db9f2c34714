// Every page of the patient app: registers the service worker (offline reading and push), tells it who is signed
// in and in which language, and offers to install the app when the browser says it can.
(() => {
  if ("serviceWorker" in navigator) {
    const user = document.querySelector('meta[name="shifa-user"]')?.content || "";
    navigator.serviceWorker
      .register("/sw.js", { scope: "/" })
      .then(() => navigator.serviceWorker.ready)
      .then((registration) => {
        // A different person than the one whose pages are saved: the worker drops them (see sw.js).
        registration.active?.postMessage({ type: "page", user, lang: document.documentElement.lang });
      })
      .catch(() => {});
  }

  const offer = document.querySelector("[data-install]");
  const DISMISSED = "shifa.install.dismissed";
  const standalone = () =>
    matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  const dismissed = () => {
    try {
      return localStorage.getItem(DISMISSED) === "1";
    } catch (error) {
      return false;
    }
  };
  let deferred = null;

  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault(); // our own discreet offer, never the browser's banner
    if (!offer || standalone() || dismissed()) return;
    deferred = event;
    offer.hidden = false;
  });
  offer?.querySelector("[data-install-accept]")?.addEventListener("click", async () => {
    offer.hidden = true;
    if (!deferred) return;
    const prompt = deferred;
    deferred = null;
    prompt.prompt();
    await prompt.userChoice.catch(() => null);
  });
  offer?.querySelector("[data-install-dismiss]")?.addEventListener("click", () => {
    offer.hidden = true;
    deferred = null;
    try {
      localStorage.setItem(DISMISSED, "1");
    } catch (error) {
      // private mode: the offer comes back next time, nothing worse
    }
  });
  window.addEventListener("appinstalled", () => {
    if (offer) offer.hidden = true;
    deferred = null;
  });
})();
