// Finding a doctor: "Near me" fills in the browser's location and searches by distance.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector("[data-locate]");
  if (!button) return;
  button.addEventListener("click", () => {
    const status = document.querySelector("[data-locate-status]");
    if (!navigator.geolocation) {
      status.textContent = status.dataset.unsupported;
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => {
        document.getElementById("id_latitude").value = p.coords.latitude.toFixed(6);
        document.getElementById("id_longitude").value = p.coords.longitude.toFixed(6);
        document.getElementById("id_sort").value = "distance";
        document.getElementById("search-form").submit();
      },
      () => {
        status.textContent = status.dataset.failed;
      },
    );
  });
});
