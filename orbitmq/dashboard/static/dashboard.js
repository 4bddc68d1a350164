// OrbitMQ console, Dashboard page: polls the console's JSON endpoints every few seconds
// and redraws the broker table and the four plotly charts in place.
"use strict";
(() => {
  const script = document.currentScript;
  const root = script.dataset.root;
  const refreshMs = Number(script.dataset.refreshMs) || 5000;
  const dateInput = document.getElementById("dashboard-date");
  const topicSelect = document.getElementById("dashboard-topic");
  const status = document.getElementById("dashboard-status");
  const plotConfig = { displaylogo: false, responsive: true };
  let namesFor = null; // the date whose topic names fill the select (null: ask again)
  let timer = null;
  let generation = 0; // only the newest refresh schedules the next one

  function layout(extra) {
    return Object.assign({ margin: { l: 60, r: 20, t: 10, b: 90 }, height: 340,
      showlegend: true, legend: { orientation: "h" } }, extra);
  }

  function trendLayout() {
    // One day's chart: times only, with seconds when zoomed in below a minute a tick.
    const xaxis = { tickformatstops: [
      { dtickrange: [null, 60000], value: "%H:%M:%S" }, { dtickrange: [60000, null], value: "%H:%M" }] };
    return layout({ xaxis, yaxis: { title: { text: "TPS" }, rangemode: "tozero" } });
  }

  function noData(text) {
    return layout({
      xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }],
    });
  }

  async function getJson(path, params) {
    const url = new URL(root + path, window.location.href);
    Object.entries(params).forEach(([k, v]) => { if (v) url.searchParams.set(k, v); });
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function cell(row, text, numeric) {
    const td = row.insertCell();
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }

  function drawBrokerTable(brokers) {
    const body = document.querySelector("#dashboard-brokers tbody");
    body.replaceChildren();
    brokers.forEach((b) => {
      const row = body.insertRow();
      row.dataset.addr = b.addr;
      cell(row, b.broker);
      cell(row, b.addr);
      if (b.answered) {
        cell(row, b.producedToday, true);
        cell(row, b.producedYesterday, true);
        cell(row, b.consumedToday, true);
      } else {
        const td = cell(row, "did not answer");
        td.colSpan = 3;
        td.className = "muted";
      }
    });
  }

  function drawBrokers(data) {
    drawBrokerTable(data.brokers);
    const top = data.brokers.filter((b) => b.answered)
      .sort((a, b) => (b.producedToday + b.consumedToday) - (a.producedToday + a.consumedToday))
      .slice(0, 10);
    Plotly.react("broker-top", top.length ? [
      { type: "bar", name: "Produced today", x: top.map((b) => b.broker), y: top.map((b) => b.producedToday) },
      { type: "bar", name: "Consumed today", x: top.map((b) => b.broker), y: top.map((b) => b.consumedToday) },
    ] : [], top.length ? layout({ barmode: "group" }) : noData("No broker figures yet"), plotConfig);
    const lines = data.series.filter((s) => s.points.length).map((s) => ({
      type: "scatter", mode: "lines", name: s.name,
      x: s.points.map((p) => new Date(p[0])), y: s.points.map((p) => p[1]),
    }));
    Plotly.react("broker-trend", lines,
      lines.length ? trendLayout() : noData(`No broker data for ${data.date}`), plotConfig);
  }

  function fillTopics(names, chosen) {
    topicSelect.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
  }

  function drawTopics(data) {
    if (data.names) {
      fillTopics(data.names, data.topic);
      namesFor = data.date;
    }
    const top = data.top;
    const known = new Set(Array.from(topicSelect.options, (o) => o.value));
    if (top.some((t) => !known.has(t.topic))) namesFor = null; // a new topic: list them again
    Plotly.react("topic-top", top.length ? [
      { type: "bar", name: "Produced today", x: top.map((t) => t.topic), y: top.map((t) => t.inToday) },
      { type: "bar", name: "Consumed today", x: top.map((t) => t.topic), y: top.map((t) => t.outToday) },
    ] : [], top.length ? layout({ barmode: "group" }) : noData(`No topic data for ${data.date}`),
    plotConfig);
    const x = data.points.map((p) => new Date(p[0]));
    Plotly.react("topic-trend", data.points.length ? [
      { type: "scatter", mode: "lines", name: "In TPS", x, y: data.points.map((p) => p[1]) },
      { type: "scatter", mode: "lines", name: "Out TPS", x, y: data.points.map((p) => p[3]) },
    ] : [], data.points.length
      ? trendLayout()
      : noData(data.topic ? `No data for ${data.topic} on ${data.date}` : `No topic data for ${data.date}`),
    plotConfig);
  }

  async function refresh() {
    clearTimeout(timer);
    const mine = ++generation;
    const date = dateInput.value;
    try {
      const [brokers, topics] = await Promise.all([
        getJson("/dashboard/broker.json", { date }),
        getJson("/dashboard/topic.json", { date, topic: topicSelect.value, names: namesFor === date ? "" : "1" }),
      ]);
      if (mine !== generation) return;
      drawBrokers(brokers);
      drawTopics(topics);
      status.textContent = brokers.collectedAt
        ? `Figures of ${new Date(brokers.collectedAt).toLocaleString()}` : "The first collection is under way.";
    } catch (err) {
      status.textContent = `Refresh failed: ${err.message}; retrying.`;
    } finally {
      if (mine === generation) timer = setTimeout(refresh, refreshMs);
    }
  }

  dateInput.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("date", dateInput.value);
    window.history.replaceState(null, "", url);
    namesFor = null;
    topicSelect.replaceChildren();
    refresh();
  });
  topicSelect.addEventListener("change", refresh);
  refresh();
})();
