// A form marked data-autosubmit sends itself once the page is read (its button stays for browsers without script).
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) form.submit();
});
