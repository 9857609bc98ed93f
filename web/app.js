// pythond status page: /v1/stats every 2 s, the store explorer (uPlot) every 10 s.
// Plain JS, no build step; served by the agent (docs/WEB.md). window.pythondUi exposes what the
// browser test checks (tests/e2e/web/drive.js).
'use strict';

(function () {
  const STATS_MS = 2000;
  const CHART_MS = 10000;
  const WINDOW_S = 3600;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
    '#7f7f7f', '#bcbd22', '#17becf'];

  const ui = {chart: null, chartPoints: 0, statsRefreshes: 0, chartLoads: 0, lastError: ''};
  window.pythondUi = ui;

  const $ = (id) => document.getElementById(id);
  const openDetails = new Set();  // keys of expanded tracebacks, kept across refreshes
  let previous = null;  // {now_ns, points} of the last /v1/stats, for points/s
  let measurements = [];
  let chartKey = '';

  // ---- formatting ----
  function esc(v) {
    return String(v).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
      '"': '&quot;', "'": '&#39;'}[c]));
  }
  function num(n) { return n === undefined || n === null ? '—' : Number(n).toLocaleString('en-US'); }
  function seconds(s) {
    if (s === undefined || s === null) return '—';
    if (s < 0.001) return (s * 1e6).toFixed(0) + ' µs';
    if (s < 1) return (s * 1e3).toFixed(1) + ' ms';
    if (s < 120) return s.toFixed(2) + ' s';
    return (s / 60).toFixed(1) + ' min';
  }
  function bytes(n) {
    if (!n) return '0 B';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + units[i];
  }
  // A unix-ns time relative to the agent's clock: "3 s ago", "in 2 s".
  function relative(ns, nowNs) {
    if (!ns) return '—';
    const d = (ns - nowNs) / 1e9;
    const a = Math.abs(d);
    const text = a < 1 ? a.toFixed(1) + ' s' : a < 120 ? Math.round(a) + ' s'
      : a < 7200 ? Math.round(a / 60) + ' min' : Math.round(a / 3600) + ' h';
    return d < 0 ? text + ' ago' : 'in ' + text;
  }
  function pill(state) {
    const s = state || 'unknown';
    return '<span class="pill pill-' + esc(s.replace(/[^a-z_]/g, '')) + '">' + esc(s) + '</span>';
  }
  // An error cell: the message, expandable to its traceback (and hint).
  function errorCell(key, message, detail) {
    if (!message) return '<td></td>';
    if (!detail) return '<td class="error">' + esc(message) + '</td>';
    return '<td class="error"><details data-key="' + esc(key) + '"' +
      (openDetails.has(key) ? ' open' : '') + '><summary>' + esc(message) +
      '</summary><pre>' + esc(detail) + '</pre></details></td>';
  }
  function dl(id, rows) {
    $(id).innerHTML = rows.map(([k, v, bad]) =>
      '<dt>' + esc(k) + '</dt><dd' + (bad ? ' class="bad"' : '') + '>' + esc(v) + '</dd>').join('');
  }
  function setStatus(text, cls) {
    const s = $('status');
    s.textContent = text;
    s.className = 'pill pill-' + cls;
  }

  async function getJson(url) {
    const r = await fetch(url, {cache: 'no-store'});
    const text = await r.text();
    if (!r.ok) {
      let message = text;
      try { message = JSON.parse(text).message || text; } catch (e) { /* not JSON */ }
      throw new Error(url.split('?')[0] + ': HTTP ' + r.status + ' ' + message);
    }
    return JSON.parse(text);
  }

  // ---- /v1/stats ----
  function renderPlugins(stats) {
    const now = stats.agent.now_unix_ns;
    const rows = [];
    const workers = [];
    for (const input of stats.inputs || []) {
      for (const p of input.plugins || []) {
        const trace = [p.last_traceback, p.last_hint].filter(Boolean).join('\n');
        const d = p.duration_s || {};
        rows.push('<tr data-plugin="' + esc(input.name + '/' + p.name) + '"><td>' +
          esc(input.name) + '</td><td title="' + esc(p.file || '') + '">' + esc(p.name) +
          '</td><td>' + pill(p.state) + '</td><td class="num">' + num(p.runs) +
          '</td><td class="num">' + num(p.failures) + '</td><td class="num">' + num(p.timeouts) +
          '</td><td>' + relative(p.last_run_unix_ns, now) + '</td><td>' +
          relative(p.next_run_unix_ns, now) + '</td><td class="num">' +
          (p.runs ? seconds(p.last_duration_s) : '—') + '</td><td class="num">' +
          (p.runs ? seconds(d.p99) : '—') + '</td>' +
          errorCell('p:' + input.name + '/' + p.name, p.last_error, trace) + '</tr>');
      }
      for (const w of input.workers || []) {
        const errs = w.import_errors || [];
        const detail = errs.map((e) => [e.module + ': ' + e.error, e.traceback, e.hint]
          .filter(Boolean).join('\n')).join('\n\n');
        workers.push('<tr><td>' + esc(input.name) + '</td><td>' + esc(w.label) + '</td><td>' +
          pill(w.crash_loop ? 'crash_loop' : w.state) + '</td><td class="num">' +
          (w.pid ? w.pid : '—') + '</td><td class="num">' + num(w.restarts) +
          '</td><td class="num">' + bytes(w.rss_bytes) + '</td><td>' + esc(w.python || '') +
          '</td><td>' + esc(w.last_exit || '') + '</td>' +
          errorCell('w:' + input.name + '/' + w.label,
            errs.length ? errs.length + ' module(s) failed to import' : '', detail) + '</tr>');
      }
    }
    $('plugins').tBodies[0].innerHTML = rows.join('') ||
      '<tr><td colspan="11" class="muted">no plugins (is an input configured?)</td></tr>';
    $('workers').tBodies[0].innerHTML = workers.join('') ||
      '<tr><td colspan="9" class="muted">no workers</td></tr>';
  }

  function renderHealth(stats) {
    const ingest = stats.ingest || {};
    const points = ingest.points || {};
    const now = stats.agent.now_unix_ns;
    const rates = [];
    for (const [category, total] of Object.entries(points)) {
      if (!total && category !== 'metric') continue;
      let rate = '—';
      if (previous && previous.points[category] !== undefined && now > previous.now) {
        rate = ((total - previous.points[category]) / ((now - previous.now) / 1e9)).toFixed(1);
      }
      rates.push([category, rate + '  (' + num(total) + ' total)']);
    }
    previous = {now: now, points: Object.assign({}, points)};
    dl('rates', rates);
    dl('ingest', [
      ['requests', num(ingest.requests)],
      ['write requests', num(ingest.write_requests)],
      ['bad requests (4xx)', num(ingest.bad_requests), ingest.bad_requests > 0],
      ['busy (503)', num(ingest.busy), ingest.busy > 0],
      ['rate limited (429)', num(ingest.rate_limited), ingest.rate_limited > 0],
      ['forbidden (403)', num(ingest.forbidden)],
    ]);
    const st = stats.store || {};
    const storeRows = [
      ['rows written', num(st.rows_written)],
      ['transactions', num(st.transactions)],
      ['queued', bytes(st.queued_bytes)],
      ['write errors', num(st.write_errors), st.write_errors > 0],
      ['batches dropped', num(st.batches_dropped), st.batches_dropped > 0],
      ['rows expired', num(st.rows_expired)],
    ];
    if (st.size_bytes !== undefined) storeRows.push(['size on disk', bytes(st.size_bytes)]);
    if (st.used_bytes !== undefined) {
      storeRows.push(['pages in use', bytes(st.used_bytes) +
        (st.max_size_bytes ? ' of ' + bytes(st.max_size_bytes) + ' cap' : '')]);
    }
    if (st.wal_points !== undefined) storeRows.push(['not yet folded', num(st.wal_points)]);
    if (st.last_error) storeRows.push(['last error', st.last_error, true]);
    dl('store', storeRows);

    const outputs = stats.outputs || [];
    $('outputs-block').hidden = outputs.length === 0;
    $('outputs').tBodies[0].innerHTML = outputs.map((o) => {
      const q = o.queue || {};
      return '<tr><td>' + esc(o.name) + '</td><td>' + esc(o.type) + '</td><td>' +
        esc(o.target || o.path || '') + '</td><td>' + pill(o.state || 'ok') +
        '</td><td class="num">' + (o.queue ? num(q.records) + ' / ' + bytes(q.bytes) : num(o.series) +
        ' series') + '</td><td class="num">' + num(o.points_sent !== undefined ? o.points_sent
        : o.samples_written) + '</td><td class="num">' + num(o.retries) + '</td><td class="num">' +
        num(o.deadletter_batches) + '</td>' + errorCell('o:' + o.name, o.last_error || q.last_error,
        '') + '</tr>';
    }).join('');
  }

  function renderGit(stats) {
    const repos = stats.git_repos;
    $('git-section').hidden = !repos;
    if (!repos) return;
    const now = stats.agent.now_unix_ns;
    $('git').tBodies[0].innerHTML = repos.map((r) => '<tr><td title="' + esc(r.url) + '">' +
      esc(r.name) + '</td><td>' + esc(r.branch) + '</td><td title="' + esc(r.head) + '">' +
      esc((r.head || '').slice(0, 10)) + ' ' + esc(r.head_summary || '') + '</td><td>' +
      relative(r.last_pull_unix_ns, now) + '</td><td>' + pill(r.last_ok ? 'ok' : 'error') +
      '</td><td class="num">' + num(r.pulls) + '</td><td class="num">' + num(r.failures) +
      '</td><td class="num">' + num(r.changes) + '</td>' +
      errorCell('g:' + r.name, r.last_error, '') + '</tr>').join('') ||
      '<tr><td colspan="9" class="muted">none</td></tr>';
  }

  async function refreshStats() {
    try {
      const stats = await getJson('/v1/stats');
      const a = stats.agent;
      $('agent').textContent = 'v' + a.version + ' · pid ' + a.pid + ' · up ' +
        seconds(a.uptime_s) + ' · RSS ' + bytes(a.rss_bytes);
      renderPlugins(stats);
      renderHealth(stats);
      renderGit(stats);
      setStatus('live · ' + new Date().toLocaleTimeString(), 'ok');
      ui.statsRefreshes++;
    } catch (e) {
      ui.lastError = String(e.message || e);
      setStatus('agent unreachable: ' + ui.lastError, 'error');
    } finally {
      setTimeout(refreshStats, STATS_MS);
    }
  }

  // ---- explorer ----
  function since() { return Math.floor(Date.now() / 1000) - WINDOW_S; }

  function fillMeasurements(list) {
    const select = $('measurement');
    const chosen = select.value;
    measurements = list.filter((m) => m.fields.length > 0);
    select.innerHTML = measurements.map((m, i) => '<option value="' + esc(m.category + '/' +
      m.measurement) + '">' + esc(m.measurement) + ' (' + esc(m.category) + ', ' +
      num(m.points) + ' points)</option>').join('');
    if (measurements.some((m) => m.category + '/' + m.measurement === chosen)) {
      select.value = chosen;
    } else {
      const metric = measurements.find((m) => m.category === 'metric');
      if (metric) select.value = metric.category + '/' + metric.measurement;
    }
    fillFields();
  }

  function selected() {
    return measurements.find((m) => m.category + '/' + m.measurement === $('measurement').value);
  }

  function fillFields() {
    const select = $('field');
    const chosen = select.value;
    const m = selected();
    const fields = m ? m.fields : [];
    select.innerHTML = fields.map((f) => '<option>' + esc(f) + '</option>').join('');
    if (fields.includes(chosen)) select.value = chosen;
  }

  function tagLabel(tags) {
    const parts = Object.entries(tags || {}).map(([k, v]) => k + '=' + v);
    return parts.length ? parts.join(', ') : '(no tags)';
  }

  function drawChart(answer, m, field) {
    const series = answer.series || [];
    const box = $('chart');
    ui.chartPoints = series.reduce((n, s) => n + s.points.length, 0);
    if (!series.length) {
      if (ui.chart) { ui.chart.destroy(); ui.chart = null; }
      chartKey = '';
      box.innerHTML = '<p class="muted">No numeric values of ' + esc(field) +
        ' in the last hour.</p>';
      return;
    }
    // One x axis for every tag set (uPlot.join fills the gaps with nulls).
    const data = uPlot.join(series.map((s) => [s.points.map((p) => p[0]), s.points.map((p) => p[1])]));
    const labels = series.map((s) => tagLabel(s.tags));
    const key = m.category + '/' + m.measurement + '/' + field + '/' + labels.join('|');
    let note = ui.chartPoints + ' points';
    if (answer.stride > 1) note += ' (every ' + answer.stride + 'th of ' + answer.points_total + ')';
    if (answer.series_total > series.length) {
      note += ', first ' + series.length + ' of ' + answer.series_total + ' tag sets';
    }
    $('chart-note').textContent = note;
    if (ui.chart && key === chartKey) {
      ui.chart.setData(data);
      return;
    }
    if (ui.chart) ui.chart.destroy();
    box.innerHTML = '';
    chartKey = key;
    const opts = {
      width: Math.max(280, box.clientWidth),
      height: 300,
      series: [{}].concat(labels.map((label, i) => ({
        label: label,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        spanGaps: true,
        points: {show: false},
      }))),
      axes: [{}, {label: field, size: 60}],
      legend: {live: true},
    };
    ui.chart = new uPlot(opts, data, box);
  }

  async function refreshChart() {
    const m = selected();
    const field = $('field').value;
    if (!m || !field) {
      $('chart').innerHTML = '<p class="muted">No numeric data stored in the last hour yet.</p>';
      $('chart-note').textContent = '';
      if (ui.chart) { ui.chart.destroy(); ui.chart = null; chartKey = ''; }
      return;
    }
    const q = new URLSearchParams({measurement: m.measurement, field: field,
      category: m.category, since: String(since())});
    const answer = await getJson('/v1/store/series?' + q);
    drawChart(answer, m, field);
    ui.chartLoads++;
  }

  let chartTimer = null;
  async function refreshExplorer(reloadList) {
    clearTimeout(chartTimer);
    try {
      if (reloadList) {
        const answer = await getJson('/v1/store/measurements?since=' + since());
        fillMeasurements(answer.measurements || []);
      }
      await refreshChart();
    } catch (e) {
      ui.lastError = String(e.message || e);
      $('chart-note').textContent = ui.lastError;
    } finally {
      chartTimer = setTimeout(() => refreshExplorer(true), CHART_MS);
    }
  }

  // No inline handlers: the page's Content-Security-Policy allows only its own scripts.
  $('explorer').addEventListener('submit', (e) => e.preventDefault());
  $('measurement').addEventListener('change', () => { fillFields(); refreshExplorer(false); });
  $('field').addEventListener('change', () => refreshExplorer(false));
  // Remember which tracebacks are open, so a refresh keeps them open.
  document.addEventListener('toggle', (e) => {
    const key = e.target.dataset && e.target.dataset.key;
    if (!key) return;
    if (e.target.open) openDetails.add(key); else openDetails.delete(key);
  }, true);
  window.addEventListener('resize', () => {
    if (ui.chart) ui.chart.setSize({width: Math.max(280, $('chart').clientWidth), height: 300});
  });

  refreshStats();
  refreshExplorer(true);
})();
