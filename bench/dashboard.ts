// What the dashboard costs a person in a real browser (Debian's chromium through playwright-core)
// over a big installation, next to the cheapest way to get the same answers in the same run:
// 200 services in 6 environments, 10,000 runs, a release and a succeeded deployment per service
// per environment (later environments often a release behind, so drift shows), and one run whose
// test stage wrote 100,000 lines. The store is seeded directly through the Store port; the server
// is test/support/dashboard-server.ts (real SQLite store, real HTTP API, the built dashboard).
//
// Per page, median of N loads after one warm-up, each a fresh navigation in one signed-in tab
// (its HTTP cache warm, as for someone who comes back), timed from navigation start to the end of
// the first frame (style, layout, paint) that shows: the fleet table's first screen of rows (a
// virtual list: only those on screen are in the page); the runs page's
// first 50 rows; the log's first rows. Each also says when the page's own API answer had arrived
// (Resource Timing), so what is left is the page's own work. Then the log is scrolled to its end
// (scrollTop set to the bottom every frame, pages loading as the end nears, until line 100,000
// is in the page), and scrolled for 2 s at an even pace (scrollTop per frame), frames counted by
// requestAnimationFrame: at reading speed and as a fling through the whole log. The fleet is
// also opened once per load in a new context (empty cache, same session). The cheapest way:
// Node's fetch of the same API answers (GET /api/fleet, /api/runs?limit=50, the log's 20 pages
// of 5000 one after another), the answers parsed as the page must.
//
// The server runs in this process and the browser beside it: on a machine shared with other
// work all of them slow down together, so read the ratios as much as the milliseconds.

import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { SlipwayClient } from '../src/client/client.ts';
import type { Fleet } from '../src/client/fleet-api.ts';
import { parseConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/model.ts';
import type { CommitAuthor, LogStream, RunStatus, StageStatus } from '../src/core/types.ts';
import { planStages } from '../src/engine/plan.ts';
import { DASHBOARD_DIR } from '../src/server/dashboard.ts';
import type { NewLogLine, Store } from '../src/store/store.ts';
import { CHROMIUM, launchBrowser } from '../test/support/browser.ts';
import { startDashboardServer } from '../test/support/dashboard-server.ts';
import { round, summarize, type Summary } from './stats.ts';

const SERVICES = 200;
const RUNS = 10_000;
const LOG_LINES = 100_000;
/** The dashboard's page sizes (dashboard/src/pages/runs.tsx, components/log-view.tsx). */
const RUNS_PAGE = 50;
const LOG_PAGE = 5000;
const ENVIRONMENTS = ['development', 'qa', 'staging', 'preprod', 'production-eu', 'production-us'] as const;
const DAY_MS = 86_400_000;
const HISTORY_DAYS = 60;
const SCROLL_MS = 2000;
/** Two 2-second scrolls: reading speed (1,000 lines a second) and a fling through the whole log. */
const SCROLLS = [
  { name: 'read', lines: 2_000 },
  { name: 'fling', lines: LOG_LINES },
] as const;
const ROW_PX = 20;

export interface ScrollFrames {
  /** Lines scrolled over the 2 s. */
  lines: number;
  /** requestAnimationFrame callbacks per second, per load. */
  fps: number[];
  /** The longest gap between two frames, per load. */
  longestFrameMs: number[];
}

export interface DashboardResult {
  services: number;
  environments: number;
  runs: number;
  releases: number;
  deployments: number;
  logLines: number;
  /** How many fleet cells show drift (a release other than the environment before serves). */
  driftCells: number;
  seedMs: number;
  /** One answer's size, bytes of JSON. */
  answerBytes: { fleet: number; runs: number; logPage: number };
  /** Elements in each page when it first showed its rows. */
  elements: { fleet: number; runs: number; log: number };
  /** `page`: navigation start to the first painted frame with the rows; `answered`: to the end of the page's own API answer. */
  fleet: { page: Summary; answered: Summary; api: Summary; ratio: number; coldPage: Summary; coldRatio: number };
  runsPage: { page: Summary; answered: Summary; api: Summary; ratio: number };
  log: {
    firstRows: Summary;
    answered: Summary;
    /** GET of the log's first page. */
    firstPageApi: Summary;
    firstRatio: number;
    /** From the first rows to line 100,000 in the page. */
    toEnd: Summary;
    /** The other 99 pages, one after another. */
    restApi: Summary;
    toEndRatio: number;
    /** Frames while scrolling to the end, and the longest gap between two. */
    toEndFrames: number[];
    toEndLongestFrameMs: number[];
    scrolls: ScrollFrames[];
  };
}

/** Why the benchmark cannot run here, or null. */
export function dashboardUnavailable(): string | null {
  if (!existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (bash scripts/setup-host.sh installs Debian's, or set SLIPWAY_CHROMIUM)`;
  if (!existsSync(`${DASHBOARD_DIR}/index.html`)) return 'the dashboard is not built (npx vite build --config dashboard/vite.config.ts)';
  return null;
}

export async function benchDashboard(loads: number, progress: (line: string) => void): Promise<DashboardResult> {
  const text = configText();
  const parsed = parseConfig(text, 'slipway.yml');
  if (!parsed.ok) throw new Error(`benchmark config is invalid: ${JSON.stringify(parsed.errors)}`);
  const config = parsed.config;
  const server = await startDashboardServer(text);
  const launched = await launchBrowser();
  try {
    progress(`dashboard: seeding ${RUNS} runs of ${SERVICES} services, ${LOG_LINES} log lines`);
    const seedBegan = performance.now();
    const seeded = await seed(server.store, config, progress);
    const seedMs = performance.now() - seedBegan;
    progress(`dashboard: seeded in ${(seedMs / 1000).toFixed(1)} s: ${seeded.releases} releases, ${seeded.deployments} deployments`);

    const token = (await new SlipwayClient(server.url).login({ user: 'admin', password: server.adminPassword, name: 'bench' })).token;
    const api = async <T>(path: string): Promise<{ body: T; bytes: number }> => {
      const response = await fetch(`${server.url}/api${path}`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
      const raw = await response.text();
      return { body: JSON.parse(raw) as T, bytes: Buffer.byteLength(raw) };
    };
    const timed = async <T>(work: () => Promise<T>): Promise<[number, T]> => {
      const began = performance.now();
      const value = await work();
      return [performance.now() - began, value];
    };
    const logPath = (after: number) => `/runs/${seeded.logRunId}/logs?stage=${seeded.logStageId}&after=${after}&limit=${LOG_PAGE}`;
    /** The whole log, page by page as the dashboard reads it: [first page ms, the other pages ms, the first page's bytes]. */
    const readLog = async (): Promise<[number, number, number]> => {
      const began = performance.now();
      const first = await api<Array<{ seq: number }>>(logPath(0));
      const firstMs = performance.now() - began;
      let page = first.body;
      let lines = page.length;
      while (page.length === LOG_PAGE) {
        page = (await api<Array<{ seq: number }>>(logPath(page.at(-1)!.seq))).body;
        lines += page.length;
      }
      if (lines !== LOG_LINES) throw new Error(`the log's pages held ${lines} lines, not ${LOG_LINES}`);
      return [firstMs, performance.now() - began - firstMs, first.bytes];
    };

    const fleetAnswer = await api<Fleet>('/fleet');
    const driftCells = fleetAnswer.body.services.reduce((sum, service) => sum + service.cells.filter((cell) => cell.drift !== null).length, 0);
    if (fleetAnswer.body.services.length !== SERVICES) throw new Error(`GET /api/fleet has ${fleetAnswer.body.services.length} services`);

    const context = await launched.browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    const thrown: string[] = [];
    page.on('pageerror', (error) => thrown.push(error.message));
    await signIn(page, server.url, server.adminPassword);
    await context.addInitScript(MARKER);

    const samples = {
      fleetPage: [] as number[],
      fleetAnswered: [] as number[],
      fleetApi: [] as number[],
      fleetCold: [] as number[],
      runsPage: [] as number[],
      runsAnswered: [] as number[],
      runsApi: [] as number[],
      logFirst: [] as number[],
      logAnswered: [] as number[],
      logFirstApi: [] as number[],
      logToEnd: [] as number[],
      logRestApi: [] as number[],
      toEndFrames: [] as number[],
      toEndLongest: [] as number[],
      scrolls: SCROLLS.map(() => ({ fps: [] as number[], longest: [] as number[] })),
    };
    let bytes = { fleet: fleetAnswer.bytes, runs: 0, logPage: 0 };
    let elements = { fleet: 0, runs: 0, log: 0 };
    for (let load = 0; load <= loads; load++) {
      const keep = load > 0;
      const label = keep ? `load ${load}/${loads}` : 'warm-up';

      const fleetShown = await shown(page, `${server.url}/`, 'fleet');
      const [fleetApiMs] = await timed(() => api<Fleet>('/fleet'));
      // A first visit: a new context (no cached assets), the same session.
      const cold = await coldFleet(launched.browser, context, server.url);
      const runsShown = await shown(page, `${server.url}/runs`, 'runs');
      const [runsApiMs, runsAnswer] = await timed(() => api<unknown[]>(`/runs?limit=${RUNS_PAGE}`));
      bytes = { ...bytes, runs: runsAnswer.bytes };
      const logShown = await shown(page, `${server.url}/runs/${seeded.logRunId}?stage=${seeded.logStageId}`, 'log');
      const toEnd = await scrollToEnd(page, LOG_LINES);
      const frames = [];
      for (const scroll of SCROLLS) frames.push(await scrollFor(page, scroll.lines * ROW_PX, SCROLL_MS));
      const [logFirstApiMs, logRestApiMs, logPageBytes] = await readLog();
      bytes = { ...bytes, logPage: logPageBytes };
      progress(
        `dashboard ${label}: fleet ${fleetShown.at.toFixed(0)} ms (answered ${fleetShown.answered?.toFixed(0)}; cold ${cold.at.toFixed(0)}; API ${fleetApiMs.toFixed(0)}), runs ${runsShown.at.toFixed(0)} ms (answered ${runsShown.answered?.toFixed(0)}; API ${runsApiMs.toFixed(0)}), log first rows ${logShown.at.toFixed(0)} ms (answered ${logShown.answered?.toFixed(0)}), to line ${LOG_LINES} ${toEnd.ms.toFixed(0)} ms (API ${(logFirstApiMs + logRestApiMs).toFixed(0)}), ${frames.map((f, i) => `${SCROLLS[i]!.name} ${f.fps.toFixed(1)} fps`).join(', ')}`,
      );
      if (!keep) continue;
      samples.fleetPage.push(fleetShown.at);
      samples.fleetAnswered.push(fleetShown.answered ?? Number.NaN);
      samples.fleetApi.push(fleetApiMs);
      samples.fleetCold.push(cold.at);
      samples.runsPage.push(runsShown.at);
      samples.runsAnswered.push(runsShown.answered ?? Number.NaN);
      samples.runsApi.push(runsApiMs);
      samples.logFirst.push(logShown.at);
      samples.logAnswered.push(logShown.answered ?? Number.NaN);
      elements = { fleet: fleetShown.elements, runs: runsShown.elements, log: logShown.elements };
      samples.logFirstApi.push(logFirstApiMs);
      samples.logToEnd.push(toEnd.ms);
      samples.logRestApi.push(logRestApiMs);
      samples.toEndFrames.push(toEnd.frames);
      samples.toEndLongest.push(round(toEnd.longestFrameMs, 1));
      frames.forEach((f, i) => {
        samples.scrolls[i]!.fps.push(round(f.fps, 1));
        samples.scrolls[i]!.longest.push(round(f.longestFrameMs, 1));
      });
    }
    if (thrown.length > 0) throw new Error(`the dashboard threw: ${thrown.join('; ')}`);
    await context.close();

    const ratio = (a: Summary, b: Summary) => round(a.medianMs / b.medianMs, 2);
    const fleet = { page: summarize(samples.fleetPage), answered: summarize(samples.fleetAnswered), api: summarize(samples.fleetApi), coldPage: summarize(samples.fleetCold) };
    const runsPage = { page: summarize(samples.runsPage), answered: summarize(samples.runsAnswered), api: summarize(samples.runsApi) };
    const log = { firstRows: summarize(samples.logFirst), answered: summarize(samples.logAnswered), firstPageApi: summarize(samples.logFirstApi), toEnd: summarize(samples.logToEnd), restApi: summarize(samples.logRestApi) };
    return {
      services: SERVICES,
      environments: ENVIRONMENTS.length,
      runs: RUNS,
      releases: seeded.releases,
      deployments: seeded.deployments,
      logLines: LOG_LINES,
      driftCells,
      seedMs: round(seedMs, 0),
      answerBytes: bytes,
      elements,
      fleet: { ...fleet, ratio: ratio(fleet.page, fleet.api), coldRatio: ratio(fleet.coldPage, fleet.api) },
      runsPage: { ...runsPage, ratio: ratio(runsPage.page, runsPage.api) },
      log: {
        ...log,
        firstRatio: ratio(log.firstRows, log.firstPageApi),
        toEndRatio: ratio(log.toEnd, log.restApi),
        toEndFrames: samples.toEndFrames,
        toEndLongestFrameMs: samples.toEndLongest,
        scrolls: SCROLLS.map((scroll, i) => ({ lines: scroll.lines, fps: samples.scrolls[i]!.fps, longestFrameMs: samples.scrolls[i]!.longest })),
      },
    };
  } finally {
    await launched.close();
    await server.close();
  }
}

export function formatDashboard(r: DashboardResult): string[] {
  const ms = (s: Summary) => `median ${s.medianMs.toFixed(0)} ms (p90 ${s.p90Ms.toFixed(0)}, min ${s.minMs.toFixed(0)}, max ${s.maxMs.toFixed(0)}, n ${s.n})`;
  const apiMs = (s: Summary) => `median ${s.medianMs.toFixed(1)} ms (p90 ${s.p90Ms.toFixed(1)})`;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? Number.NaN;
  const n = (value: number) => value.toLocaleString('en-US');
  return [
    `dashboard (chromium, headless): ${r.services} services x ${r.environments} environments (${r.driftCells} cells drift), ${n(r.runs)} runs, ${n(r.releases)} releases, ${n(r.deployments)} deployments, a ${n(r.logLines)}-line log; seeded through the Store in ${(r.seedMs / 1000).toFixed(1)} s`,
    `  fleet of ${r.services}, first screen  ${ms(r.fleet.page)}; GET /api/fleet (${kib(r.answerBytes.fleet)}) ${apiMs(r.fleet.api)}: ${r.fleet.ratio.toFixed(2)}x`,
    `    its answer arrived at median ${r.fleet.answered.medianMs.toFixed(0)} ms, then ${(r.fleet.page.medianMs - r.fleet.answered.medianMs).toFixed(0)} ms to render ${n(r.elements.fleet)} elements`,
    `  fleet, first visit (new context: empty cache) ${ms(r.fleet.coldPage)}: ${r.fleet.coldRatio.toFixed(2)}x`,
    `  runs, first ${RUNS_PAGE} rows shown    ${ms(r.runsPage.page)}; GET /api/runs?limit=${RUNS_PAGE} (${kib(r.answerBytes.runs)}) ${apiMs(r.runsPage.api)}: ${r.runsPage.ratio.toFixed(2)}x`,
    `    its answer arrived at median ${r.runsPage.answered.medianMs.toFixed(0)} ms, then ${(r.runsPage.page.medianMs - r.runsPage.answered.medianMs).toFixed(0)} ms to render ${n(r.elements.runs)} elements`,
    `  log, first rows shown          ${ms(r.log.firstRows)}; GET of its first page (${kib(r.answerBytes.logPage)}) ${apiMs(r.log.firstPageApi)}: ${r.log.firstRatio.toFixed(2)}x`,
    `    its answer arrived at median ${r.log.answered.medianMs.toFixed(0)} ms, then ${(r.log.firstRows.medianMs - r.log.answered.medianMs).toFixed(0)} ms to render ${n(r.elements.log)} elements`,
    `  log, scrolled to line ${n(r.logLines)} ${ms(r.log.toEnd)}; GET of the other ${r.logLines / LOG_PAGE - 1} pages ${apiMs(r.log.restApi)}: ${r.log.toEndRatio.toFixed(2)}x; ${median(r.log.toEndFrames)} frames, longest ${median(r.log.toEndLongestFrameMs)} ms (medians)`,
    ...r.log.scrolls.map(
      (s) =>
        `  log, 2 s scroll over ${n(s.lines).padEnd(7)} lines  ${median(s.fps).toFixed(1)} fps median (min ${Math.min(...s.fps).toFixed(1)}), longest frame median ${median(s.longestFrameMs).toFixed(1)} ms (max ${Math.max(...s.longestFrameMs).toFixed(1)})`,
    ),
  ];
}

// ---- the browser side -------------------------------------------------------------------------

/**
 * Runs in every document before the page's own scripts: checks every frame from the first on
 * whether this path's page shows what it is measured on; once a frame has it, after that frame's
 * style, layout and paint (a task queued from its animation frame runs after them), records in
 * window.__benchShown the time (performance.now(), from navigation start), when the page's own
 * answer from the API had arrived (Resource Timing), and how many elements the page has.
 */
const MARKER = `(() => {
  const path = location.pathname;
  const [check, answer] =
    // The fleet shows only the rows on screen (a virtual list): the first screen of them, in a
    // table as tall as all ${SERVICES}, is the page open.
    path === '/' ? [() => document.querySelectorAll('[data-testid=fleet] tbody tr[data-service]').length >= 10 && (document.querySelector('[data-testid=fleet]')?.getBoundingClientRect().height ?? 0) > ${SERVICES} * 40, '/api/fleet']
    : path === '/runs' ? [() => document.querySelectorAll('[data-testid=runs] tbody tr').length >= ${RUNS_PAGE}, '/api/runs?']
    : /^\\/runs\\/\\d+$/.test(path) ? [() => document.querySelector('[data-testid=log] .log-line') !== null, '/logs?']
    : [null, null];
  if (!check) return;
  const tick = () => {
    if (!check()) return requestAnimationFrame(tick);
    setTimeout(() => {
      const entry = performance.getEntriesByType('resource').find((candidate) => candidate.name.includes(answer));
      window.__benchShown = { at: performance.now(), answered: entry ? entry.responseEnd : null, elements: document.getElementsByTagName('*').length };
    }, 0);
  };
  requestAnimationFrame(tick);
})();`;

interface Shown {
  /** From navigation start to the end of the first frame that shows the rows. */
  at: number;
  /** From navigation start to the end of the page's own API answer (GET /api/fleet, /api/runs, the log's first page). */
  answered: number | null;
  /** Elements in the page then. */
  elements: number;
}

declare global {
  interface Window {
    __benchShown?: Shown;
  }
}

async function signIn(page: Page, url: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User').waitFor();
  await page.getByLabel('User').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Navigates and answers when, after navigation start, the page first showed what MARKER looks for. */
async function shown(page: Page, url: string, what: string): Promise<Shown> {
  await page.goto(url, { waitUntil: 'commit' });
  try {
    // Polled at an interval rather than every frame: the marker itself records the frame.
    const handle = await page.waitForFunction(() => window.__benchShown, undefined, { polling: 50, timeout: 60_000 });
    return (await handle.jsonValue()) as Shown;
  } catch (error) {
    throw new Error(`the ${what} page never showed its rows: ${String(error)}`);
  }
}

/** The fleet page in a new context (an empty HTTP cache), signed in with the same session. */
async function coldFleet(browser: Browser, signedIn: BrowserContext, url: string): Promise<Shown> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, storageState: await signedIn.storageState() });
  try {
    await context.addInitScript(MARKER);
    return await shown(await context.newPage(), `${url}/`, 'fleet (cold)');
  } finally {
    await context.close();
  }
}

// The in-page code is text: tsx's transform would name the functions of a callback with a helper
// (__name) that the page does not have.

/** Sets the log's scrollTop to its bottom every frame (pages load as the end nears) until line `last` is in the page; null after 2 minutes. */
const SCROLL_TO_END = `(last) => new Promise((resolve) => {
  const scroller = document.querySelector('[data-testid=log]');
  const began = performance.now();
  let previous = began;
  let frames = 0;
  let longest = 0;
  const step = (now) => {
    frames++;
    longest = Math.max(longest, now - previous);
    previous = now;
    if (scroller.querySelector('.log-line[data-seq="' + last + '"]')) return resolve({ ms: performance.now() - began, frames, longestFrameMs: longest });
    if (now - began > 120000) return resolve(null);
    scroller.scrollTop = scroller.scrollHeight;
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})`;

/** Scrolls the log from the top over `distance` pixels at an even pace for `durationMs`, counting frames. */
const SCROLL_FOR = `({ distance, durationMs }) => new Promise((resolve) => {
  const scroller = document.querySelector('[data-testid=log]');
  scroller.scrollTop = 0;
  // Two frames to settle at the top, then the clock starts.
  requestAnimationFrame(() => requestAnimationFrame((began) => {
    let previous = began;
    let frames = 0;
    let longest = 0;
    const step = (now) => {
      frames++;
      longest = Math.max(longest, now - previous);
      previous = now;
      const elapsed = now - began;
      if (elapsed >= durationMs) return resolve({ fps: (frames * 1000) / elapsed, longestFrameMs: longest });
      scroller.scrollTop = (distance * elapsed) / durationMs;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }));
})`;

async function scrollToEnd(page: Page, last: number): Promise<{ ms: number; frames: number; longestFrameMs: number }> {
  const result = (await page.evaluate(`(${SCROLL_TO_END})(${last})`)) as { ms: number; frames: number; longestFrameMs: number } | null;
  if (!result) throw new Error(`line ${last} of the log was not shown within 2 minutes of scrolling`);
  return result;
}

async function scrollFor(page: Page, distance: number, durationMs: number): Promise<{ fps: number; longestFrameMs: number }> {
  return (await page.evaluate(`(${SCROLL_FOR})(${JSON.stringify({ distance, durationMs })})`)) as { fps: number; longestFrameMs: number };
}

// ---- the installation -------------------------------------------------------------------------

const DOMAINS = ['payments', 'ledger', 'billing', 'invoices', 'checkout', 'cart', 'catalog', 'search', 'pricing', 'inventory', 'shipping', 'orders', 'accounts', 'identity', 'profiles', 'notifications', 'reports', 'analytics', 'fraud', 'support'];
const ROLES = ['api', 'worker', 'web', 'gateway', 'sync', 'scheduler', 'events', 'admin', 'export', 'import'];
const SERVICE_NAMES = DOMAINS.flatMap((domain) => ROLES.map((role) => `${domain}-${role}`)).slice(0, SERVICES);
const LOG_SERVICE = 'payments-api';

/** The slipway.yml of the installation (exported, with seed, for looking into what the benchmark finds). */
export function configText(): string {
  return [
    'registry: 127.0.0.1:5000',
    'pipeline:',
    '  - stage: test',
    '    run: npm ci && npm test',
    '  - stage: build',
    ...ENVIRONMENTS.flatMap((environment) => [`  - stage: deploy-${environment}`, `    environment: ${environment}`]),
    'environments:',
    ...ENVIRONMENTS.map((environment) => `  ${environment}: {}`),
    'services:',
    ...SERVICE_NAMES.map((name, index) => `  ${name}: { repo: /repos/${name}.git, port: ${8000 + index} }`),
    '',
  ].join('\n');
}

const AUTHORS: CommitAuthor[] = [
  ['Ada Lovelace', 'ada'],
  ['Grace Hopper', 'grace'],
  ['Linus Nakamura', 'linus.n'],
  ['Margaret Hamilton', 'mhamilton'],
  ['Dennis Okafor', 'dokafor'],
  ['Barbara Liskov', 'bliskov'],
  ['Ken Adeyemi', 'ken'],
  ['Frances Allen', 'fran'],
  ['Radia Perlman', 'radia'],
  ['Edsger Varga', 'edsger'],
  ['Sophie Wilson', 'sophie.w'],
  ['Tim Berners', 'timb'],
].map(([name, user]) => ({ name: name!, email: `${user}@example.com` }));

const VERBS = ['Fix', 'Add', 'Retry', 'Cache', 'Log', 'Validate', 'Paginate', 'Index', 'Rename', 'Remove', 'Batch', 'Guard against', 'Time out', 'Document', 'Speed up'];
const OBJECTS = [
  'declined cards on the second attempt',
  'refunds larger than the original charge',
  'the currency of zero-decimal amounts',
  'webhook deliveries from the payment provider',
  'stale prices in the product page',
  'duplicate orders on a double click',
  'the nightly export to the warehouse',
  'tax rounding for Swiss francs',
  'missing addresses on gift orders',
  'the session cookie on Safari',
  'slow queries on the orders table',
  'empty search results for accented names',
  'the retry budget of the shipping client',
  'inventory counts after a cancelled order',
  'password reset links that expired too early',
  'a race between two concurrent refunds',
  'feature flags read at startup',
  'the health check when the queue is full',
];

/** A small deterministic generator (mulberry32): the same installation every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Seeded {
  logRunId: number;
  logStageId: number;
  releases: number;
  deployments: number;
}

const RUNS_PER_TRANSACTION = 100;
const LOG_LINES_PER_APPEND = 5000;

export async function seed(store: Store, config: Config, progress: (line: string) => void): Promise<Seeded> {
  const next = random(20_260_101);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const hex = (length: number) => Array.from({ length }, () => Math.floor(next() * 16).toString(16)).join('');
  const iso = (ms: number) => new Date(ms).toISOString();
  const plans = new Map(SERVICE_NAMES.map((name) => [name, planStages(config, name)]));
  /** Per service and environment, the release serving there. */
  const serving = new Map<string, number>();
  const begin = Date.now() - HISTORY_DAYS * DAY_MS;
  const step = (HISTORY_DAYS * DAY_MS) / RUNS;
  const logRunIndex = RUNS - 100;
  let logRunId = 0;
  let logStageId = 0;
  let logWindow: [number, number] = [0, 0];
  let releases = 0;
  let deployments = 0;
  let pullRequest = 400;

  for (let first = 0; first < RUNS; first += RUNS_PER_TRANSACTION) {
    await store.transaction(async (tx) => {
      for (let index = first; index < Math.min(RUNS, first + RUNS_PER_TRANSACTION); index++) {
        // The first run of every service deploys everywhere; after that, busier services run more.
        const service = index < SERVICES ? SERVICE_NAMES[index]! : index === logRunIndex ? LOG_SERVICE : SERVICE_NAMES[Math.floor(SERVICES * next() ** 1.6)]!;
        const roll = next();
        const kind: 'main' | 'pr' | 'failed' | 'cancelled' = index < SERVICES || index === logRunIndex ? 'main' : roll < 0.14 ? 'pr' : roll < 0.24 ? 'failed' : roll < 0.27 ? 'cancelled' : 'main';
        // How far through the chain a main run got: everywhere for most, else stopped at a gate.
        const depth = index < SERVICES || index === logRunIndex ? ENVIRONMENTS.length : kind === 'main' ? (next() < 0.6 ? ENVIRONMENTS.length : 1 + Math.floor(next() * (ENVIRONMENTS.length - 1))) : 0;
        const lane = kind === 'pr' ? `pr/${++pullRequest}` : 'main';
        const createdMs = begin + index * step + next() * step * 0.5;
        const commitSha = hex(40);
        const author = pick(AUTHORS);
        const trigger = kind === 'pr' ? { kind: 'pull_request' as const, by: `delivery-${hex(8)}` } : next() < 0.1 ? { kind: 'manual' as const, by: author.email.split('@')[0]! } : { kind: 'push' as const, by: `delivery-${hex(8)}` };
        const plan = plans.get(service)!;
        const { run, stages } = await tx.runs.create(
          {
            service,
            ref: kind === 'pr' ? `refs/pull/${pullRequest}/head` : 'main',
            commitSha,
            trigger,
            lane,
            concurrency: 'queue',
            partial: kind === 'pr',
            untrusted: false,
            tag: null,
            variables: {},
            originRunId: null,
            createdAt: iso(createdMs),
          },
          plan.map((stage, position) => ({ position, name: stage.name, kind: stage.kind, command: stage.command, environment: stage.environment, timeoutMs: stage.timeoutMs })),
        );

        // Each stage in turn: checkout, test, build, then the deploys up to `depth`.
        let clock = createdMs + 1000 + next() * 4000;
        const startedMs = clock;
        let status: RunStatus = 'succeeded';
        let reason: string | null = null;
        let releaseId: number | null = null;
        let digest = '';
        for (const stage of stages) {
          const environmentIndex = stage.environment === null ? -1 : ENVIRONMENTS.indexOf(stage.environment as (typeof ENVIRONMENTS)[number]);
          let stageStatus: StageStatus = 'succeeded';
          let stageReason: string | null = null;
          let exitCode: number | null = null;
          if (status !== 'succeeded') {
            stageStatus = 'skipped';
            stageReason = status === 'failed' ? 'an earlier stage failed' : status === 'cancelled' ? 'the run was cancelled' : 'the run ended before this stage';
          } else if (kind === 'pr' && stage.kind === 'deploy') {
            stageStatus = 'skipped';
            stageReason = 'pull request runs stop after the build and never deploy';
          } else if (stage.kind === 'deploy' && environmentIndex >= depth) {
            stageStatus = 'cancelled';
            stageReason = `the approval for ${stage.environment} expired after 24h`;
            status = 'expired';
            reason = `${stage.environment}'s approval expired`;
          }
          const stageStart = clock;
          const seconds = stage.kind === 'checkout' ? 2 + next() * 4 : stage.kind === 'command' ? 40 + next() * 260 : stage.kind === 'build' ? 50 + next() * 150 : 20 + next() * 70;
          if (stageStatus === 'succeeded' && stage.kind === 'command' && kind === 'failed') {
            stageStatus = 'failed';
            exitCode = 1;
            stageReason = 'the command exited with 1';
            status = 'failed';
            reason = 'stage test failed: the command exited with 1';
          }
          if (stageStatus === 'succeeded' && stage.kind === 'command' && kind === 'cancelled') {
            stageStatus = 'cancelled';
            stageReason = `cancelled by ${author.email.split('@')[0]}`;
            status = 'cancelled';
            reason = `cancelled by ${author.email.split('@')[0]}`;
          }
          const ran = stageStatus === 'succeeded' || stageStatus === 'failed' || (stageStatus === 'cancelled' && stage.kind === 'command');
          if (ran) clock += seconds * 1000;
          if (stage.kind === 'command' && index === logRunIndex) {
            logRunId = run.id;
            logStageId = stage.id;
            logWindow = [stageStart, clock];
          }
          if (stage.kind === 'command' && ran) exitCode ??= stageStatus === 'succeeded' ? 0 : null;
          await tx.stages.update(stage.id, {
            status: stageStatus,
            exitCode,
            reason: stageReason,
            startedAt: ran ? iso(stageStart) : null,
            finishedAt: ran || stageStatus === 'cancelled' ? iso(clock) : null,
          });
          if (stage.kind === 'build' && stageStatus === 'succeeded') {
            digest = `sha256:${hex(64)}`;
            releaseId = (await tx.releases.create({ service, commitSha, image: `127.0.0.1:5000/${service}:${commitSha}`, digest, tag: null, lane, runId: run.id })).id;
            releases++;
          }
          if (stage.kind === 'deploy' && stageStatus === 'succeeded' && releaseId !== null) {
            const key = `${service}\u0000${stage.environment}`;
            const deployment = await tx.deployments.create({
              service,
              environment: stage.environment!,
              releaseId,
              runId: run.id,
              previousReleaseId: serving.get(key) ?? null,
              startedAt: iso(stageStart),
            });
            await tx.deployments.update(deployment.id, { status: 'succeeded', finishedAt: iso(clock), url: `http://127.0.0.1:${20000 + deployments % 20000}` });
            serving.set(key, releaseId);
            deployments++;
            // Waiting at the next gate takes a while.
            clock += next() * 3_600_000;
          }
        }
        await tx.runs.update(run.id, {
          status,
          reason,
          startedAt: iso(startedMs),
          finishedAt: iso(clock),
          commitTitle: `${pick(VERBS)} ${pick(OBJECTS)}`,
          commitAuthor: author,
          committedAt: iso(createdMs - next() * 600_000),
        });
      }
    });
    if ((first + RUNS_PER_TRANSACTION) % 2000 === 0) progress(`dashboard: ${first + RUNS_PER_TRANSACTION}/${RUNS} runs`);
  }

  // The test stage of one run wrote 100,000 lines: a big suite, a few warnings on stderr.
  const [from, to] = logWindow;
  for (let first = 0; first < LOG_LINES; first += LOG_LINES_PER_APPEND) {
    const lines: NewLogLine[] = [];
    for (let index = first; index < Math.min(LOG_LINES, first + LOG_LINES_PER_APPEND); index++) {
      const { stream, text } = testLine(index, next);
      lines.push({ runId: logRunId, stageId: logStageId, stream, text, at: iso(from + ((to - from) * index) / LOG_LINES) });
    }
    await store.logs.append(lines);
  }
  const stored = await store.logs.list(logRunId, { stageId: logStageId, afterSeq: LOG_LINES - 1 });
  if (stored.length !== 1 || stored[0]!.seq !== LOG_LINES) throw new Error(`the log's last line is not seq ${LOG_LINES}`);
  return { logRunId, logStageId, releases, deployments };
}

const SUITES = ['charges', 'refunds', 'disputes', 'payouts', 'currencies', 'webhooks', 'ledger entries', 'idempotency keys', 'card tokens', 'receipts'];

/** Line `index` of a long test run's output: a suite header in colour, its tests, now and then a warning. */
function testLine(index: number, next: () => number): { stream: LogStream; text: string } {
  const position = index % 50;
  const suite = SUITES[Math.floor(index / 50) % SUITES.length]!;
  const file = `src/${suite.replace(/ /g, '-')}/${suite.replace(/ /g, '-')}-${Math.floor(index / 500)}.test.ts`;
  if (index === LOG_LINES - 1) return { stream: 'stdout', text: `\u001b[1mTests:\u001b[22m \u001b[32m${LOG_LINES - 2000} passed\u001b[39m, ${LOG_LINES - 2000} total` };
  if (position === 0) return { stream: 'stdout', text: `\u001b[42m\u001b[30m PASS \u001b[39m\u001b[49m ${file} \u001b[2m(${(1 + next() * 9).toFixed(3)} s)\u001b[22m` };
  if (position === 1) return { stream: 'stdout', text: `  ${suite}` };
  if (next() < 0.01) return { stream: 'stderr', text: `(node:${4000 + (index % 97)}) Warning: retrying the connection to postgres://ci@127.0.0.1:5432/test (attempt ${1 + (index % 3)})` };
  const ms = Math.floor(next() * 40);
  return { stream: 'stdout', text: `    \u001b[32m✓\u001b[39m ${pick2(next)} ${suite} ${position} \u001b[2m(${ms} ms)\u001b[22m` };
}

function pick2(next: () => number): string {
  const phrases = ['rejects', 'accepts', 'retries', 'rounds', 'records', 'reports', 'refuses', 'replays'];
  return phrases[Math.floor(next() * phrases.length)]!;
}
