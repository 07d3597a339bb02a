// Clicks through every part of the kri console in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) against a running `kri serve`, checks
// what each part shows, and saves a screenshot of each part. tests/tests/console.rs
// starts okta-sim, the tenant, its runs and `kri serve`, then runs this with:
//   KRI_CONSOLE_URL       the server, e.g. http://127.0.0.1:8080
//   KRI_API_KEY           its API key
//   KRI_CONSOLE_SHOTS     where the screenshots go
//   KRI_CONSOLE_USER      a user login with access paths (an admin)
//   KRI_CONSOLE_ALERTS    the tenant's alerts (`kri alerts --json`), at least two
// Exits non-zero, saying which check failed, when one does.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run this through tests/tests/console.rs`);
  return v;
};
const url = env("KRI_CONSOLE_URL");
const key = env("KRI_API_KEY");
const shots = env("KRI_CONSOLE_SHOTS");
const user = env("KRI_CONSOLE_USER");
const alerts = JSON.parse(env("KRI_CONSOLE_ALERTS"));
assert.ok(alerts.length >= 2, `the test needs two alerts to acknowledge one and resolve another: ${alerts.length}`);
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

const profile = mkdtempSync(join(tmpdir(), "kri-console-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1400, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(20_000);
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));

const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const loaded = (part) => page.waitForSelector(`body[data-loaded="${part}"]`);
const step = (what) => console.log(`- ${what}`);

async function openPart(part) {
  await page.evaluate(() => { delete document.body.dataset.loaded; });
  await page.click(`#tabs a[data-part="${part}"]`);
  await loaded(part);
}

try {
  step("the console asks for the API key, then loads the KRI dashboard");
  await page.goto(`${url}/`);
  await page.waitForSelector("#key-dialog[open]");
  await page.fill("#key-input", key);
  await page.click("#key-save");
  await loaded("kris");
  await page.waitForSelector("#banner", { state: "hidden" });

  step("KRI dashboard: one card and one trend chart per KRI, with thresholds drawn");
  const cards = await page.locator(".card.kri").count();
  assert.ok(cards >= 5, `expected the Okta KRIs, found ${cards} cards`);
  const charts = await page.evaluate(() => [...document.querySelectorAll(".card.kri canvas")].map((c) => {
    const chart = Chart.getChart(c);
    const valued = c.closest(".card").querySelector(".value").textContent !== "-";
    return { valued, labels: chart.data.datasets.map((d) => d.label), points: chart.data.datasets[0].data.length };
  }));
  assert.equal(charts.length, cards);
  assert.ok(charts.every((c) => c.points === (c.valued ? 2 : 0)), `each KRI with a value has its two stored values: ${JSON.stringify(charts)}`);
  assert.ok(charts.some((c) => c.labels.includes("warn") && c.labels.includes("breach")), "warn and breach lines drawn");
  await shot("kris");

  step("KRI details: the users or rules behind the number");
  // The first KRI whose details list people (by login) behind its number.
  let named = null;
  for (const slug of await page.locator(".card.kri").evaluateAll((els) => els.map((e) => e.dataset.slug))) {
    await page.click(`.card.kri[data-slug="${slug}"]`);
    await page.waitForSelector(`#kri-detail:not([hidden]) code:text-is("${slug}")`);
    if (/@/.test(await page.locator("#kri-detail .detail table").allTextContents().then((t) => t.join(" ")))) {
      named = slug;
      break;
    }
  }
  assert.ok(named, "some KRI's details name the users behind the number");
  assert.match(await page.textContent("#kri-detail"), /Behind the number/);
  await page.locator("#kri-detail").scrollIntoViewIfNeeded();
  await shot("kri-detail");

  step("tenant health: last run per job, stream lag, rate-limit use");
  await openPart("health");
  const jobs = await page.textContent("#health-jobs");
  for (const job of ["inventory", "logs", "kris"]) assert.match(jobs, new RegExp(job));
  assert.match(jobs, /succeeded/);
  const lag = await page.textContent("#stream-lag .value");
  assert.notEqual(lag.trim(), "-", "stream lag shown once events are stored");
  await shot("health");

  step("alerts: the planted attacks' alerts; filter, evidence, acknowledge, resolve");
  await openPart("alerts");
  const rows = () => page.locator("#alert-table tbody tr");
  const rowCount = (n) => page.waitForFunction((n) => document.querySelectorAll("#alert-table tbody tr").length === n, n);
  assert.equal(await rows().count(), alerts.length, "every stored alert listed");
  // The alert with the most evidence events, among those of its severity.
  const shown = alerts.reduce((a, b) => (b.evidence.length > a.evidence.length ? b : a));
  assert.ok(shown.evidence.length > 0, `alert ${shown.id} has evidence`);
  await page.selectOption("#alert-severity", shown.severity);
  await rowCount(alerts.filter((a) => a.severity === shown.severity).length);
  const row = rows().filter({ has: page.locator("td:first-child", { hasText: new RegExp(`^${shown.id}$`) }) });
  await row.click();
  await page.waitForSelector("#evidence-table");
  assert.match(await page.textContent("#alert-detail h3"), new RegExp(`^Alert ${shown.id}:`));
  assert.equal(await page.locator("#evidence-table tbody tr").count(), shown.evidence.length, "every evidence event listed");
  const listed = await page.textContent("#evidence-table");
  assert.ok(shown.evidence.every((uuid) => listed.includes(uuid)), "the evidence events are the alert's");
  await shot("alert-evidence");
  await row.locator("button.ack").click();
  await row.filter({ hasText: "acknowledged" }).waitFor();
  await page.selectOption("#alert-severity", "");
  await page.selectOption("#alert-status", "open");
  await rowCount(alerts.length - 1);
  await rows().first().locator("button.resolve").click();
  await rowCount(alerts.length - 2);
  await page.selectOption("#alert-status", "");
  await rowCount(alerts.length);
  const table = await page.textContent("#alert-table tbody");
  assert.match(table, /acknowledged/);
  assert.match(table, /resolved/);
  await shot("alerts");

  step("run history, and run now");
  await openPart("runs");
  const before = await page.locator("#run-table tbody tr").count();
  assert.ok(before >= 5, `a poll of the logs job and two runs of two jobs: ${before}`);
  await page.selectOption("#run-job", "kris");
  await page.click("#run-now");
  // The scheduler of kri serve may start a run of its own meanwhile: at least one more.
  await page.waitForFunction((n) => document.querySelectorAll("#run-table tbody tr").length > n, before);
  assert.match(await page.textContent("#banner"), /run \d+ \(kris\) started/);
  await shot("runs");

  step("access graph: search, node details, view access, SQL");
  await openPart("graph");
  await page.fill("#node-search", user.split("@")[0]);
  await page.click("#node-search-form button");
  await page.waitForSelector("#node-results li[data-id]");
  await page.click("#node-results li[data-id]");
  await page.waitForSelector("#node-detail #view-access");
  assert.match(await page.textContent("#node-detail"), new RegExp(user.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  await page.click("#view-access");
  await page.waitForFunction(() => Number(document.getElementById("cy").dataset.nodes) >= 3);
  const drawn = await page.evaluate(() => ({ nodes: Number(document.getElementById("cy").dataset.nodes), edges: Number(document.getElementById("cy").dataset.edges) }));
  assert.ok(drawn.edges >= 2, `access paths drawn: ${JSON.stringify(drawn)}`);
  await page.selectOption("#sql-examples", { label: "Standing privileges" });
  await page.click("#sql-run");
  await page.waitForFunction(() => /row\(s\)/.test(document.getElementById("sql-status").textContent));
  assert.ok(await page.locator("#sql-result tbody tr").count() >= 1, "the seed query returns rows");
  await shot("graph");
  await page.fill("#sql", "DELETE FROM nodes");
  await page.click("#sql-run");
  await page.waitForFunction(() => !/running/.test(document.getElementById("sql-status").textContent));
  assert.doesNotMatch(await page.textContent("#sql-status"), /row\(s\)/, "a write is refused");

  assert.deepEqual(pageErrors, [], "no script errors on the page");
  console.log("console test passed");
} catch (err) {
  await shot("failure").catch(() => {});
  console.error(`console test failed: ${err && err.stack ? err.stack : err}`);
  console.error(`page errors: ${JSON.stringify(pageErrors)}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
