// Hovering a field's box or its row in the table lights up both.
document.addEventListener("DOMContentLoaded", () => {
  const pairs = (n) => document.querySelectorAll(`[data-field="${n}"]`);
  document.querySelectorAll("[data-field]").forEach((el) => {
    const n = el.dataset.field;
    el.addEventListener("mouseenter", () => pairs(n).forEach((p) => p.classList.add("hot")));
    el.addEventListener("mouseleave", () => pairs(n).forEach((p) => p.classList.remove("hot")));
  });
});
