// Small behaviours shared by every page. htmx does the rest.
document.addEventListener("htmx:responseError", (event) => {
  const target = event.detail.target;
  if (target) target.setAttribute("aria-busy", "false");
});

// The patient app's "More" menu (a <details>, which works without this): Escape closes it and gives the focus back
// to "More"; a tap or click outside it closes it.
document.addEventListener("keydown", (event) => {
  const more = event.key === "Escape" && event.target.closest && event.target.closest("details[data-tabbar-more][open]");
  if (!more) return;
  more.open = false;
  more.querySelector("summary").focus();
});
document.addEventListener("click", (event) => {
  for (const more of document.querySelectorAll("details[data-tabbar-more][open]")) {
    if (!more.contains(event.target)) more.open = false;
  }
});
