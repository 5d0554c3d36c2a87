// The sales leaders' dashboard: four reads of GET /v1/reports/comparison, drawn with Chart.js.
// Data is only ever written with textContent (never as HTML); the API key stays in sessionStorage.
"use strict";

const KEY_STORAGE = "salesmeet.reportsKey";
const COLORS = { internal: "#4f6bed", customer: "#e8833a", other: "#7a869a" };
const charts = {};
let latestLoad = 0; // only the newest load draws: an older one finishing late must not overwrite it

const FIGURES = [
  ["meetings_scheduled", "Meetings scheduled", "count"],
  ["meetings_held", "Meetings held", "count"],
  ["meetings_cancelled", "Meetings cancelled", "count"],
  ["scheduled_minutes", "Scheduled minutes", "number"],
  ["actual_minutes", "Actual minutes", "number"],
  ["avg_actual_minutes", "Avg actual minutes", "number"],
  ["avg_overrun_minutes", "Avg overrun (min)", "number"],
  ["avg_start_delay_minutes", "Avg start delay (min)", "number"],
  ["avg_participants", "Avg participants", "number"],
  ["avg_internal_participants", "Avg internal participants", "number"],
  ["avg_external_participants", "Avg external participants", "number"],
  ["invitee_attendance_rate", "Invitee attendance", "rate"],
  ["customer_no_show_rate", "Customer no-shows", "rate"],
  ["host_no_show_rate", "Host no-shows", "rate"],
  ["internal_person_hours", "Internal person-hours", "number"],
  ["internal_cost", "Internal cost", "money"],
];

function byId(id) {
  return document.getElementById(id);
}

function format(value, kind, currency) {
  if (value === null || value === undefined) return "–";
  if (kind === "rate") return `${(value * 100).toFixed(1)} %`;
  if (kind === "money") return `${value.toLocaleString(undefined, { maximumFractionDigits: 0 })} ${currency}`;
  if (kind === "count") return value.toLocaleString();
  return value.toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function setStatus(message, isError) {
  const status = byId("status");
  status.textContent = message;
  status.classList.toggle("error", Boolean(isError));
}

async function fetchReport(key, from, to, groupBy) {
  const query = new URLSearchParams({ from, to, group_by: groupBy });
  const response = await fetch(`/v1/reports/comparison?${query}`, {
    headers: { Authorization: `Bearer ${key}`, Accept: "application/json" },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const reason = body && body.message ? body.message : `HTTP ${response.status}`;
    throw new Error(reason);
  }
  return body;
}

function fillTable(table, header, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const title of header) {
    const cell = document.createElement("th");
    cell.textContent = title;
    head.appendChild(cell);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) tr.insertCell().textContent = value;
  }
}

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart(byId(id), config);
}

function groupOf(report, kind) {
  return report.groups.find((g) => g.group.kind === kind) || null;
}

function showKinds(report) {
  const internal = groupOf(report, "internal");
  const customer = groupOf(report, "customer");
  fillTable(
    byId("kind-table"),
    ["", "Internal", "Customer"],
    FIGURES.map(([name, title, kind]) => [
      title,
      format(internal && internal[name], kind, report.currency),
      format(customer && customer[name], kind, report.currency),
    ]),
  );
  const compared = FIGURES.filter(([name]) =>
    ["avg_actual_minutes", "avg_overrun_minutes", "avg_start_delay_minutes", "avg_participants"].includes(name),
  );
  draw("kind-chart", {
    type: "bar",
    data: {
      labels: compared.map(([, title]) => title),
      datasets: ["internal", "customer"].map((kind) => ({
        label: kind,
        backgroundColor: COLORS[kind],
        data: compared.map(([name]) => {
          const group = groupOf(report, kind);
          return group ? group[name] : null;
        }),
      })),
    },
    options: { maintainAspectRatio: false },
  });
}

function showWeeks(report) {
  const weeks = [...new Set(report.groups.map((g) => g.group.week))].sort();
  const series = (kind, name) =>
    weeks.map((week) => {
      const group = report.groups.find((g) => g.group.week === week && g.group.kind === kind);
      return group ? group[name] : 0;
    });
  draw("week-chart", {
    type: "line",
    data: {
      labels: weeks,
      datasets: [
        { label: "internal meetings held", data: series("internal", "meetings_held"), borderColor: COLORS.internal },
        { label: "customer meetings held", data: series("customer", "meetings_held"), borderColor: COLORS.customer },
        {
          label: `internal cost of internal meetings (${report.currency})`,
          data: series("internal", "internal_cost"),
          borderColor: COLORS.other,
          borderDash: [4, 4],
          yAxisID: "cost",
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true }, cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } },
    },
  });
}

function showProviders(report) {
  const groups = report.groups;
  draw("provider-chart", {
    type: "bar",
    data: {
      labels: groups.map((g) => g.group.provider || "none"),
      datasets: [
        { label: "meetings held", data: groups.map((g) => g.meetings_held), backgroundColor: COLORS.internal },
        {
          label: "customer no-shows (%)",
          data: groups.map((g) => (g.customer_no_show_rate === null ? null : g.customer_no_show_rate * 100)),
          backgroundColor: COLORS.customer,
          yAxisID: "rate",
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true }, rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } } },
    },
  });
}

function showOrganizers(report) {
  const top = [...report.groups].sort((a, b) => b.internal_cost - a.internal_cost).slice(0, 25);
  fillTable(
    byId("organizer-table"),
    ["Organizer", "Held", "Customer no-shows", "Person-hours", "Internal cost"],
    top.map((g) => [
      g.group.organizer,
      format(g.meetings_held, "count"),
      format(g.customer_no_show_rate, "rate"),
      format(g.internal_person_hours, "number"),
      format(g.internal_cost, "money", report.currency),
    ]),
  );
}

async function show(event) {
  if (event) event.preventDefault();
  const key = byId("key").value.trim();
  const from = byId("from").value;
  const to = byId("to").value;
  if (!key || !from || !to) {
    setStatus("Enter an API key and a period.", true);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  setStatus("Loading…");
  const load = ++latestLoad;
  try {
    const [kinds, weeks, providers, organizers] = await Promise.all(
      ["kind", "week,kind", "provider", "organizer"].map((groupBy) => fetchReport(key, from, to, groupBy)),
    );
    if (load !== latestLoad) return;
    showKinds(kinds);
    showWeeks(weeks);
    showProviders(providers);
    showOrganizers(organizers);
    setStatus(`${from} to ${to} (${kinds.timezone}), as of ${new Date(kinds.as_of).toLocaleString()}.`);
  } catch (error) {
    if (load === latestLoad) setStatus(`Could not load the report: ${error.message}`, true);
  }
}

function isoDate(date) {
  // The user's calendar day (toISOString would give the UTC one).
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

document.addEventListener("DOMContentLoaded", () => {
  const today = new Date();
  const start = new Date(today.getFullYear(), today.getMonth() - 3, 1);
  byId("from").value = isoDate(start);
  byId("to").value = isoDate(today);
  byId("controls").addEventListener("submit", show);
  byId("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    byId("key").value = "";
    setStatus("Key forgotten.");
  });
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    byId("key").value = saved;
    show();
  }
});
