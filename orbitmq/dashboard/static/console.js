// OrbitMQ console: small helpers of our own. Forms are plain HTML POSTs; this only asks
// before destructive actions and sorts tables client-side where a page marks them sortable.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
function sortTable(table, column, numeric) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const dir = table.dataset.sortColumn === String(column) && table.dataset.sortDir === "asc" ? "desc" : "asc";
  rows.sort((a, b) => {
    const x = a.cells[column].dataset.value ?? a.cells[column].textContent.trim();
    const y = b.cells[column].dataset.value ?? b.cells[column].textContent.trim();
    const cmp = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    return dir === "asc" ? cmp : -cmp;
  });
  rows.forEach((row) => body.appendChild(row));
  table.dataset.sortColumn = String(column);
  table.dataset.sortDir = dir;
}
document.addEventListener("click", (event) => {
  const th = event.target.closest("th[data-sort]");
  if (!th) return;
  sortTable(th.closest("table"), th.cellIndex, th.dataset.sort === "num");
});
