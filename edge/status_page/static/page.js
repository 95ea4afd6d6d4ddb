// minegate status page: polls /api/status and redraws what the server rendered first (edge/status_page/page.py).
// Plain DOM, textContent only (no HTML from the gateway is ever parsed here).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const refreshMs = Number(document.body.dataset.refreshMs) || 2000;
  const TOKEN_KEY = "minegate-status-token";
  let failures = 0;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function row(cells, attrs) {
    const tr = el("tr", attrs);
    for (const c of cells) {
      if (c instanceof Node) {
        const td = el("td");
        td.appendChild(c);
        tr.appendChild(td);
      } else if (c && typeof c === "object") {
        tr.appendChild(el("td", c.attrs, c.text));
      } else {
        tr.appendChild(el("td", {}, c));
      }
    }
    return tr;
  }

  function clock(wall) {
    if (wall === null || wall === undefined) return "—";
    return new Date(wall * 1000).toISOString().substring(11, 19) + "Z";
  }

  function age(s) {
    if (s === null || s === undefined) return "—";
    if (s < 90) return s.toFixed(0) + " s";
    if (s < 5400) return (s / 60).toFixed(0) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function pct(p) {
    return p === null || p === undefined ? "—" : (100 * p).toFixed(0) + " %";
  }

  function fillTable(sectionId, tableId, headers, rows, empty) {
    const section = document.getElementById(sectionId);
    let table = document.getElementById(tableId);
    if (!table) {
      table = el("table", { id: tableId });
      const head = el("tr");
      for (const h of headers) head.appendChild(el("th", {}, h));
      const thead = el("thead");
      thead.appendChild(head);
      table.appendChild(thead);
      table.appendChild(el("tbody"));
      section.appendChild(table);
    }
    const body = table.tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = el("tr", { class: "empty" });
      tr.appendChild(el("td", { colspan: String(headers.length) }, empty));
      body.appendChild(tr);
    }
    for (const r of rows) body.appendChild(r);
  }

  function note(sectionId, text) {
    const p = document.getElementById(sectionId + "-note");
    if (p) p.textContent = text || "";
  }

  function drawHeader(v) {
    const gw = v.gateway;
    const faults = Object.entries(gw.task_faults).map(([k, m]) => k + ": " + m).join("; ");
    const health = document.getElementById("health");
    if (gw.healthy) health.textContent = "healthy";
    else if (gw.safety_functions_ok) health.textContent = "degraded: " + faults;
    else health.textContent = "SAFETY FUNCTION DOWN: " + faults;
    health.className = gw.healthy ? "ok" : "bad";
    document.getElementById("clock").textContent = clock(gw.now_wall);
  }

  function drawAlarms(v) {
    const rows = v.alarms.map((a) => {
      const value = a.value === null ? "" : (a.value_text + " " + a.unit).trim();
      const limit = a.limit === null ? "" : " (limit " + a.limit + " " + a.unit + ")";
      const flags = [a.statutory ? "statutory" : "", a.latched ? "latched" : ""].filter(Boolean).join(" ");
      let action = "";
      if (v.ack_enabled && a.acknowledgeable) {
        action = el("button", { class: "ack", "data-alarm": a.alarm_id }, "Acknowledge");
      }
      return row(
        [a.priority, a.alarm_id, a.state_text, value + limit, a.message, flags, clock(a.since_wall), action],
        { class: "alarm prio-" + a.priority + " state-" + a.state, "data-alarm": a.alarm_id }
      );
    });
    const headers = ["Priority", "Alarm", "State", "Value", "Message", "", "Since", ""];
    fillTable("alarms", "alarms-table", headers, rows, "No standing alarms");
  }

  function drawPoints(v) {
    const rows = v.points.map((p) => {
      let why = "";
      if (p.quality !== "good") why = " (" + p.reason + (p.detail ? ": " + p.detail : "") + ")";
      return row(
        [
          p.point_id, p.label, p.location,
          { attrs: { class: "value" }, text: p.value_text },
          { attrs: { class: "unit" }, text: p.unit },
          { attrs: { class: "quality" }, text: p.quality + why },
          age(p.age_s),
        ],
        { class: "point " + (p.in_alarm ? "in-alarm" : "q-" + p.quality), "data-point": p.point_id }
      );
    });
    const headers = ["Point", "Measures", "Location", "Value", "Unit", "Quality", "Age"];
    fillTable("points", "points-table", headers, rows, "No points configured");
  }

  function drawMiners(v) {
    const m = v.miners;
    note("miners", m.note);
    const rows = m.miners.map((x) =>
      row(
        [x.miner_id, x.role, x.last_pillar, x.predicted_pillar || "—", pct(x.confidence), age(x.since_seen_s),
          x.last_gateway || "—"],
        { "data-miner": x.miner_id }
      )
    );
    const headers = ["Miner", "Role", "Last seen at", "Predicted", "Confidence", "Unheard for", "Last gateway"];
    fillTable("miners", "miners-table", headers, rows, "No miners");
  }

  function drawMap(v) {
    note("map", v.map.note);
    const svg = document.getElementById("mine-map");
    if (!v.map.available || !svg) return;
    for (const p of v.map.points) {
      const dot = svg.querySelector('circle[data-point="' + CSS.escape(p.id) + '"]');
      if (dot) {
        dot.setAttribute("class", "sensor sensor-" + p.state);
        dot.querySelector("title").textContent = p.id + ": " + p.state;
      }
    }
    const group = document.getElementById("map-miners");
    group.replaceChildren();
    for (const m of v.map.miners) {
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("class", "miner");
      c.setAttribute("data-miner", m.id);
      c.setAttribute("cx", String(m.x));
      c.setAttribute("cy", String(m.y));
      c.setAttribute("r", "3.5");
      const t = document.createElementNS(SVG, "title");
      const conf = m.confidence === null ? "" : ", " + pct(m.confidence);
      t.textContent = m.id + ": " + (m.predicted ? "predicted " : "last seen ") + m.pillar + conf;
      c.appendChild(t);
      group.appendChild(c);
    }
  }

  function drawDtn(v) {
    const d = v.dtn;
    note("dtn", d.note);
    if (!d.queue) return;
    let summary = document.getElementById("dtn-summary");
    if (!summary) {
      summary = el("p", { id: "dtn-summary" });
      document.getElementById("dtn").appendChild(summary);
    }
    const queue = Object.entries(d.queue).map(([k, n]) => k + " " + n).join(", ");
    summary.textContent = "Node " + d.node_id + ": queue " + queue + "; " + d.bytes_used + " of " +
      d.capacity_bytes + " bytes; hops to the surface: " + d.hops_to_surface;
    const rows = d.contacts.map((c) =>
      row([c.peer, c.up ? "up" : "down", c.contacts, c.in_flight, clock(c.last_transfer_wall)], { "data-peer": c.peer })
    );
    fillTable("dtn", "dtn-table", ["Peer", "Contact", "Contacts", "In flight", "Last transfer"], rows, "No peers");
  }

  function drawCameras(v) {
    const c = v.cameras;
    note("cameras", c.note);
    if (!c.configured) return;
    const rows = c.cameras.map((x) => {
      const health = x.healthy ? "healthy" : x.conditions.join(", ") || x.state;
      const latency = x.latency_p50_s === null ? "—" : (1000 * x.latency_p50_s).toFixed(0) + " ms";
      return row(
        [x.camera_id, x.location, x.state, health, x.frames_analysed, latency, x.last_error || ""],
        { class: "camera " + (x.healthy ? "ok" : "fault"), "data-camera": x.camera_id }
      );
    });
    const headers = ["Camera", "Location", "Capture", "Health", "Frames analysed", "Latency p50", "Last error"];
    fillTable("cameras", "cameras-table", headers, rows, "No camera streams");
  }

  function drawHazard(v) {
    const h = v.hazard;
    if (!h.configured) note("hazard", h.note);
    else note("hazard", "Model " + h.model + ": " + h.decisions + " decisions; open warnings: " +
      (h.open_warnings.join(", ") || "none"));
  }

  function drawOutputs(v) {
    const list = document.getElementById("outputs-list");
    list.replaceChildren();
    for (const o of v.outputs) {
      const cls = (o.active ? "on" : "off") + (o.fault ? " fault" : "");
      list.appendChild(el("li", { "data-output": o.name, class: cls },
        o.name + ": " + (o.active ? "ON" : "off") + (o.fault ? " — fault: " + o.fault : "")));
    }
  }

  function draw(v) {
    drawHeader(v);
    drawAlarms(v);
    drawPoints(v);
    drawMap(v);
    drawMiners(v);
    drawDtn(v);
    drawCameras(v);
    drawHazard(v);
    drawOutputs(v);
  }

  async function poll() {
    const state = document.getElementById("poll-state");
    try {
      const response = await fetch("/api/status", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const view = await response.json();
      draw(view);
      failures = 0;
      state.className = "live";
      state.textContent = "Live: updated " + clock(view.gateway.now_wall) + ", every " + refreshMs / 1000 + " s";
    } catch (err) {
      failures += 1;
      state.className = "stale";
      state.textContent = "No answer from the gateway (" + err.message + "); showing the last values, retrying";
    }
    window.setTimeout(poll, refreshMs);
  }

  async function acknowledge(alarmId) {
    let token = window.sessionStorage.getItem(TOKEN_KEY);
    if (!token) token = window.prompt("Status page token to acknowledge " + alarmId);
    if (!token) return;
    const response = await fetch("/api/alarms/" + encodeURIComponent(alarmId) + "/ack", {
      method: "POST",
      headers: { Authorization: "Bearer " + token },
    });
    let body = {};
    try {
      body = await response.json();
    } catch (err) {
      body = { error: "HTTP " + response.status };
    }
    if (response.ok) {
      window.sessionStorage.setItem(TOKEN_KEY, token);
    } else {
      if (response.status === 401 || response.status === 403) window.sessionStorage.removeItem(TOKEN_KEY);
      window.alert("Not acknowledged: " + (body.error || "HTTP " + response.status));
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (target instanceof HTMLButtonElement && target.classList.contains("ack")) {
      target.disabled = true;
      acknowledge(target.dataset.alarm).finally(() => { target.disabled = false; });
    }
  });

  poll();
})();
