#!/usr/bin/env node
// Drives the agent's status page in Debian's headless Chromium (playwright-core, pinned in
// package.json). Run by tests/e2e/test_web.py against a running agent:
//
//   node drive.js <json options>
//     {"base": "http://127.0.0.1:PORT", "artifacts": "DIR", "plugins": ["input/plugin", ...],
//      "failing": "input/plugin", "failing_text": "...", "measurement": "metric/name",
//      "field": "value", "chromium": "/usr/bin/chromium"}
//
// Checks, at 1280x800: no console errors, no failed or foreign requests; the plugins table lists
// `plugins`; the failing plugin's traceback shows when expanded (and stays open across a
// refresh); picking `measurement`/`field` draws a uPlot chart with points on its canvas. Then
// at 375x812: the page does not scroll sideways and the chart draws. Screenshots:
// web-desktop.png and web-phone.png in `artifacts`. Exits 1 with the reasons on any failure.
'use strict';

const path = require('path');
const fs = require('fs');
const {chromium} = require('playwright-core');

const opts = JSON.parse(process.argv[2] || '{}');
const WAIT_MS = 15000;
const problems = [];

function check(ok, message) {
  if (!ok) problems.push(message);
  return ok;
}

// Records what must not happen on a page: console errors, uncaught exceptions, failed
// requests, HTTP errors, and requests anywhere but the agent.
function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(label + ': console error: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push(label + ': uncaught exception: ' + e.message));
  page.on('requestfailed', (r) => {
    problems.push(label + ': request failed: ' + r.url() + ' (' +
      (r.failure() ? r.failure().errorText : '?') + ')');
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(opts.base + '/') && !url.startsWith('data:')) {
      problems.push(label + ': request outside the agent: ' + url);
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(label + ': HTTP ' + r.status() + ' for ' + r.url());
  });
}

async function waitFor(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, {timeout: WAIT_MS, polling: 100});
    return true;
  } catch (e) {
    problems.push('timed out after ' + WAIT_MS + ' ms waiting for ' + what);
    return false;
  }
}

// Non-blank pixels on the chart's canvas (uPlot draws its lines there).
async function canvasInk(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('#chart canvas');
    if (!canvas) return -1;
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
    return n;
  });
}

async function pickSeries(page) {
  if (!await waitFor(page, 'measurement ' + opts.measurement + ' in the explorer',
    (m) => !!document.querySelector('#measurement option[value="' + m + '"]'), opts.measurement)) {
    return;
  }
  await page.selectOption('#measurement', opts.measurement);
  await page.selectOption('#field', opts.field);
  const drawn = await waitFor(page, 'the chart of ' + opts.measurement + ' ' + opts.field,
    ([m, f]) => {
      const u = window.pythondUi && window.pythondUi.chart;
      return u && u.data && u.data[0].length > 1 && window.pythondUi.chartPoints > 1 &&
        document.getElementById('measurement').value === m &&
        document.getElementById('field').value === f;
    }, [opts.measurement, opts.field]);
  if (drawn) {
    const ink = await canvasInk(page);
    check(ink > 100, 'the chart canvas is blank (' + ink + ' painted pixels)');
  }
}

async function desktop(browser) {
  const context = await browser.newContext({viewport: {width: 1280, height: 800}});
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  watch(page, 'desktop');
  await page.goto(opts.base + '/', {waitUntil: 'load'});
  await waitFor(page, 'the first /v1/stats refresh',
    () => window.pythondUi && window.pythondUi.statsRefreshes >= 1);
  for (const key of opts.plugins) {
    const rows = await page.locator('#plugins tr[data-plugin="' + key + '"]').count();
    check(rows === 1, 'plugin ' + key + ' is not in the plugins table');
  }

  // The failing plugin: red state, and its traceback behind the error message.
  const row = page.locator('#plugins tr[data-plugin="' + opts.failing + '"]');
  if (await waitFor(page, opts.failing + ' to show its error',
    (key) => !!document.querySelector('#plugins tr[data-plugin="' + key + '"] details'),
    opts.failing)) {
    await failingPlugin(page, row);
  }
  await pickSeries(page);
  // Points/s need two refreshes; by now there were at least two.
  const rates = await page.locator('#rates').textContent();
  check(/metric\s*[0-9]/.test(rates), 'no points/s for metric in the ingest card: ' + rates);
  await page.screenshot({path: path.join(opts.artifacts, 'web-desktop.png'), fullPage: true});
  await context.close();
}

async function failingPlugin(page, row) {
  check((await row.locator('.pill').textContent()) === 'failing',
    opts.failing + ' is not shown as failing');
  await row.locator('details summary').click();
  const shown = await waitFor(page, 'the traceback of ' + opts.failing,
    ([key, text]) => {
      const pre = document.querySelector('#plugins tr[data-plugin="' + key + '"] details[open] pre');
      return pre && pre.offsetHeight > 0 && pre.textContent.includes('Traceback') &&
        pre.textContent.includes(text);
    }, [opts.failing, opts.failing_text]);
  if (shown) {
    // Still open after the next refresh (the table is redrawn every 2 s).
    const refreshes = await page.evaluate(() => window.pythondUi.statsRefreshes);
    await waitFor(page, 'a second stats refresh', (n) => window.pythondUi.statsRefreshes > n,
      refreshes);
    check(await row.locator('details[open] pre').isVisible(),
      'the traceback closed itself after a refresh');
  }
}

async function phone(browser) {
  const context = await browser.newContext({
    viewport: {width: 375, height: 812}, deviceScaleFactor: 2, isMobile: true, hasTouch: true});
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  watch(page, 'phone');
  await page.goto(opts.base + '/', {waitUntil: 'load'});
  await waitFor(page, 'the first /v1/stats refresh (phone)',
    () => window.pythondUi && window.pythondUi.statsRefreshes >= 1);
  await pickSeries(page);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 375, 'the page scrolls sideways at 375 px (' + width + ' px wide)');
  await page.screenshot({path: path.join(opts.artifacts, 'web-phone.png'), fullPage: true});
  await context.close();
}

(async () => {
  fs.mkdirSync(opts.artifacts, {recursive: true});
  const args = typeof process.getuid === 'function' && process.getuid() === 0 ? ['--no-sandbox'] : [];
  const browser = await chromium.launch({
    executablePath: opts.chromium || '/usr/bin/chromium', headless: true, args: args});
  try {
    await desktop(browser);
    await phone(browser);
  } finally {
    await browser.close();
  }
})().catch((e) => problems.push('driver error: ' + (e && e.stack || e))).then(() => {
  if (problems.length) {
    console.error('web page checks FAILED:\n  ' + problems.join('\n  '));
    process.exit(1);
  }
  console.log('web page checks passed; screenshots in ' + opts.artifacts);
});
