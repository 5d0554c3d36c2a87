// The sales leaders' dashboard: four reads of GET /v1/reports/comparison, drawn with Chart.js.
// Data is only ever written with textContent (never as HTML); the API key stays in sessionStorage.
// One unit per chart axis, ISO dates everywhere, and the period always shown (and in the address).
"use strict";

const KEY_STORAGE = "salesmeet.reportsKey";
const COLORS = { internal: "#4f6bed", customer: "#e8833a" };
const KINDS = ["internal", "customer"];
const WORK_WEEK_HOURS = 40;
const charts = {};
let latestLoad = 0; // only the newest load draws: an older one finishing late must not overwrite it

// [figure, label with its unit, how to format]
const FIGURES = [
  ["meetings_scheduled", "Meetings scheduled", "count"],
  ["meetings_held", "Meetings held", "count"],
  ["meetings_cancelled", "Meetings cancelled", "count"],
  ["actual_minutes", "Time in meetings (h, meeting length)", "hours"],
  ["internal_person_hours", "Our people's time (person-hours)", "number"],
  ["internal_cost", "Cost of our people's time", "money"],
  ["avg_actual_minutes", "Average length (min)", "number"],
  ["avg_overrun_minutes", "Average overrun (min)", "number"],
  ["avg_start_delay_minutes", "Average start delay (min)", "number"],
  ["avg_participants", "Average participants (people)", "number"],
  ["avg_external_participants", "Average customer participants (people)", "number"],
  ["invitee_attendance_rate", "Invitees who attended (%)", "rate"],
  ["customer_no_show_rate", "Customer no-shows (% of customer meetings)", "rate"],
  ["host_no_show_rate", "Host no-shows (% of customer meetings)", "rate"],
];
const MINUTE_FIGURES = [
  ["avg_actual_minutes", "Length"],
  ["avg_overrun_minutes", "Overrun"],
  ["avg_start_delay_minutes", "Start delay"],
];
const RATE_FIGURES = [
  ["invitee_attendance_rate", "Invitees attended"],
  ["customer_no_show_rate", "Customer no-shows"],
  ["host_no_show_rate", "Host no-shows"],
];

function byId(id) {
  return document.getElementById(id);
}

function format(value, kind, currency) {
  if (value === null || value === undefined) return "–";
  if (kind === "rate") return `${(value * 100).toFixed(1)} %`;
  if (kind === "money") return `${Math.round(value).toLocaleString("en-US")} ${currency}`;
  if (kind === "count") return value.toLocaleString("en-US");
  if (kind === "hours") return (value / 60).toLocaleString("en-US", { maximumFractionDigits: 1 });
  return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
}

function percent(rate) {
  return rate === null || rate === undefined ? null : Math.round(rate * 1000) / 10;
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

function fillTable(table, header, rows, rowClasses) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const title of header) {
    const cell = document.createElement("th");
    cell.textContent = title;
    head.appendChild(cell);
  }
  const body = table.createTBody();
  rows.forEach((row, index) => {
    const tr = body.insertRow();
    if (rowClasses && rowClasses[index]) tr.className = rowClasses[index];
    for (const value of row) tr.insertCell().textContent = value;
  });
}

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = { maintainAspectRatio: false, animation: false, ...config.options };
  charts[id] = new window.Chart(byId(id), config);
}

function axis(title, extra) {
  return { beginAtZero: true, title: { display: true, text: title }, ...extra };
}

function find(report, match) {
  return report.groups.find((g) => Object.entries(match).every(([k, v]) => g.group[k] === v)) || null;
}

function figure(report, match, name) {
  const group = find(report, match);
  return group ? group[name] : null;
}

function showKinds(report) {
  fillTable(
    byId("kind-table"),
    ["", "Internal", "Customer"],
    FIGURES.map(([name, title, kind]) => [
      title === "Cost of our people's time" ? `${title} (${report.currency})` : title,
      ...KINDS.map((k) => format(figure(report, { kind: k }, name), kind, report.currency)),
    ]),
  );
  const datasets = (figures, value) =>
    KINDS.map((kind) => ({
      label: kind,
      backgroundColor: COLORS[kind],
      data: figures.map(([name]) => value(figure(report, { kind }, name))),
    }));
  draw("kind-minutes-chart", {
    type: "bar",
    data: { labels: MINUTE_FIGURES.map(([, t]) => t), datasets: datasets(MINUTE_FIGURES, (v) => v) },
    options: { scales: { y: axis("minutes") } },
  });
  draw("kind-rates-chart", {
    type: "bar",
    data: { labels: RATE_FIGURES.map(([, t]) => t), datasets: datasets(RATE_FIGURES, percent) },
    options: { scales: { y: axis("%", { max: 100 }) } },
  });
}

function isoWeekMonday(week) {
  // "2026-W45" -> the ISO date of its Monday (the week with 4 January is week 1).
  const [year, number] = week.split("-W").map(Number);
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const monday = new Date(jan4);
  monday.setUTCDate(jan4.getUTCDate() - ((jan4.getUTCDay() + 6) % 7) + (number - 1) * 7);
  return monday.toISOString().slice(0, 10);
}

function showWeeks(report) {
  const weeks = [...new Set(report.groups.map((g) => g.group.week))].sort();
  const labels = weeks.map((week) => `${week} (${isoWeekMonday(week)})`);
  const series = (name) =>
    KINDS.map((kind) => ({
      label: kind,
      backgroundColor: COLORS[kind],
      data: weeks.map((week) => figure(report, { week, kind }, name) || 0),
    }));
  draw("week-held-chart", {
    type: "bar",
    data: { labels, datasets: series("meetings_held") },
    options: { scales: { y: axis("meetings held") } },
  });
  byId("week-cost-title").textContent = `Cost of our people's time per week (${report.currency})`;
  draw("week-cost-chart", {
    type: "bar",
    data: { labels, datasets: series("internal_cost") },
    options: { scales: { x: { stacked: true }, y: axis(report.currency, { stacked: true }) } },
  });
}

function showProviders(report) {
  const providers = [...new Set(report.groups.map((g) => g.group.provider || "none"))].sort();
  const pick = (provider, kind, name) => figure(report, { provider: provider === "none" ? null : provider, kind }, name);
  draw("provider-chart", {
    type: "bar",
    data: {
      labels: providers,
      datasets: KINDS.map((kind) => ({
        label: kind,
        backgroundColor: COLORS[kind],
        data: providers.map((p) => pick(p, kind, "meetings_held") || 0),
      })),
    },
    options: { scales: { y: axis("meetings held") } },
  });
  fillTable(
    byId("provider-table"),
    ["Provider", "Customer meetings held", "Customer no-shows (%)", "Host no-shows (%)", "Invitees who attended (%)"],
    providers.map((p) => [
      p,
      format(pick(p, "customer", "meetings_held"), "count"),
      format(pick(p, "customer", "customer_no_show_rate"), "rate"),
      format(pick(p, "customer", "host_no_show_rate"), "rate"),
      format(pick(p, "customer", "invitee_attendance_rate"), "rate"),
    ]),
  );
}

function weeksIn(from, to) {
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000 + 1;
  return Math.max(days, 1) / 7;
}

function showOrganizers(report, weeks, shareLimit) {
  const organizers = [...new Set(report.groups.map((g) => g.group.organizer))];
  const rows = organizers.map((organizer) => {
    const groups = report.groups.filter((g) => g.group.organizer === organizer);
    const sum = (name) => groups.reduce((total, g) => total + (g[name] || 0), 0);
    const internal = find(report, { organizer, kind: "internal" });
    const customer = find(report, { organizer, kind: "customer" });
    const hostedHoursPerWeek = (internal ? internal.actual_minutes : 0) / 60 / weeks;
    return { organizer, sum, internal, customer, hostedHoursPerWeek, cost: sum("internal_cost") };
  });
  rows.sort((a, b) => b.cost - a.cost);
  const top = rows.slice(0, 25);
  fillTable(
    byId("organizer-table"),
    [
      "Organizer",
      "Internal meetings held",
      "Customer meetings held",
      "Customer no-shows (%)",
      "Internal meetings hosted (h per week)",
      "Share of a 40 h week (%)",
      `Cost of our people's time (${report.currency})`,
    ],
    top.map((r) => [
      r.organizer,
      format(r.internal ? r.internal.meetings_held : 0, "count"),
      format(r.customer ? r.customer.meetings_held : 0, "count"),
      format(r.customer ? r.customer.customer_no_show_rate : null, "rate"),
      format(r.hostedHoursPerWeek, "number"),
      `${format((r.hostedHoursPerWeek / WORK_WEEK_HOURS) * 100, "number")} %${r.hostedHoursPerWeek / WORK_WEEK_HOURS > shareLimit ? " ⚠" : ""}`,
      format(r.cost, "money", report.currency),
    ]),
    top.map((r) => (r.hostedHoursPerWeek / WORK_WEEK_HOURS > shareLimit ? "over-limit" : "")),
  );
  return organizers.length;
}

function showLoad(kinds, weeks, reps, shareLimit) {
  // Internal meeting load per rep: our people's time in internal meetings, per rep and week.
  const box = byId("load-warning");
  const internal = find(kinds, { kind: "internal" });
  if (!internal || !reps) {
    box.hidden = true;
    return;
  }
  const hoursPerRep = internal.internal_person_hours / reps / weeks;
  const share = hoursPerRep / WORK_WEEK_HOURS;
  const cost = format(internal.internal_cost, "money", kinds.currency);
  const figures =
    `Internal meetings took ${hoursPerRep.toFixed(1)} h per rep per week (${reps} reps): ` +
    `${(share * 100).toFixed(1)} % of a ${WORK_WEEK_HOURS} h week`;
  const over = share > shareLimit;
  box.textContent = over
    ? `⚠ ${figures}, above the ${Math.round(shareLimit * 100)} % limit. They cost ${cost} of our people's time in this period.`
    : `${figures}, within the ${Math.round(shareLimit * 100)} % limit (${cost} of our people's time).`;
  box.className = over ? "warning" : "ok";
  box.hidden = false;
}

function isoInstant(value) {
  return `${value.slice(0, 16).replace("T", " ")} UTC`;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

async function show(event) {
  if (event) event.preventDefault();
  const key = byId("key").value.trim();
  const from = byId("from").value.trim();
  const to = byId("to").value.trim();
  if (!key || !ISO_DATE.test(from) || !ISO_DATE.test(to)) {
    setStatus("Enter an API key and a period as YYYY-MM-DD dates.", true);
    return;
  }
  const shareLimit = Number(byId("share").value || 10) / 100;
  sessionStorage.setItem(KEY_STORAGE, key);
  history.replaceState(null, "", `?${new URLSearchParams({ from, to })}`);
  setStatus("Loading…");
  const load = ++latestLoad;
  try {
    const [kinds, weeks, providers, organizers] = await Promise.all(
      ["kind", "week,kind", "provider,kind", "organizer,kind"].map((groupBy) => fetchReport(key, from, to, groupBy)),
    );
    if (load !== latestLoad) return;
    const weekCount = weeksIn(from, to);
    byId("period").textContent =
      `${from} to ${to} (${kinds.timezone}, ${weekCount.toFixed(1)} weeks): ` +
      `${format(kinds.total.meetings_held, "count")} meetings held, ` +
      `${format(kinds.total.internal_cost, "money", kinds.currency)} of our people's time.`;
    showKinds(kinds);
    showWeeks(weeks);
    showProviders(providers);
    const organizerCount = showOrganizers(organizers, weekCount, shareLimit);
    showLoad(kinds, weekCount, Number(byId("reps").value) || organizerCount, shareLimit);
    setStatus(`Figures as of ${isoInstant(kinds.as_of)}.`);
  } catch (error) {
    if (load === latestLoad) setStatus(`Could not load the report: ${error.message}`, true);
  }
}

function isoDate(date) {
  // The user's calendar day (toISOString would give the UTC one).
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function defaultPeriod() {
  // The address's period if it has one; else the last four full ISO weeks and this week so far.
  const params = new URLSearchParams(window.location.search);
  const from = params.get("from");
  const to = params.get("to");
  if (from && to && ISO_DATE.test(from) && ISO_DATE.test(to)) return [from, to];
  const today = new Date();
  const monday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - ((today.getDay() + 6) % 7) - 28);
  return [isoDate(monday), isoDate(today)];
}

document.addEventListener("DOMContentLoaded", () => {
  const [from, to] = defaultPeriod();
  byId("from").value = from;
  byId("to").value = to;
  byId("period").textContent = `${from} to ${to}`;
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
