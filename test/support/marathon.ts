// The deploy marathon the rollout test and the deploy benchmark share: on a fleet (fleet.ts),
// with clients sending requests continuously through the proxy to both environments (plus one
// long keep-alive connection and one WebSocket), good pipeline runs of alternating services
// (each two deploys: staging, then production's three replicas one at a time), bad ones
// (rolled back automatically: releases that stop passing their health check, fail their smoke
// test or answer errors after the switch; a failing migration and a release never healthy, which
// never take a request) and manual rollbacks. The benchmark runs the long version (10 good runs,
// 7 bad, 5 rollbacks); the test each kind once, which exercises every path in half the time. A canary calls the endpoint the "errors" release breaks, as
// real users of that endpoint would: its 500s are the evidence the bake window acts on.

import { setTimeout as sleep } from 'node:timers/promises';
import type { RunDetail } from '../../src/client/api.ts';
import type { Deployment } from '../../src/core/types.ts';
import { BROKEN_ENDPOINT, type Fleet, type Flaw, type ServiceName } from './fleet.ts';
import type { TrafficReport } from './traffic.ts';
import { spawnTraffic } from './traffic-process.ts';

export interface MarathonStep {
  what: string;
  service: ServiceName;
  run: RunDetail;
  /** The deployments the step made, oldest first. */
  deployments: Deployment[];
  /** Date.now() at its start and end, to place a client's failure (its `at`) in a step. */
  startedAt: number;
  endedAt: number;
}

/** One line per step with its times and outcome: where a failure's `at` falls. */
export function timeline(steps: MarathonStep[]): string {
  return steps
    .map((step) => `${step.startedAt}..${step.endedAt} ${step.what}: run #${step.run.id} ${step.run.status}, ${step.deployments.map((deployment) => `${deployment.environment} ${deployment.status}`).join(', ') || 'no deployment'}`)
    .join('\n');
}

export interface MarathonResult {
  steps: MarathonStep[];
  staging: TrafficReport;
  production: TrafficReport;
  canary: { sent: number; errors: number };
  /** From each step's start to its end, for the benchmark. */
  durationsMs: number[];
}

export interface BadRelease {
  flaw: Flaw;
  what: string;
}

/** Five rolled back automatically; a failing migration and a release never healthy never take a request. */
export const BAD_RELEASES: BadRelease[] = [
  { flaw: 'failing-health', what: 'stops passing its health check during the bake' },
  { flaw: 'failing-smoke', what: 'fails its smoke test' },
  { flaw: 'failing-endpoint', what: 'answers errors after the switch' },
  { flaw: 'failing-migration', what: 'fails its migration' },
  { flaw: 'failing-health', what: 'stops passing its health check during the bake' },
  { flaw: 'failing-endpoint', what: 'answers errors after the switch' },
  { flaw: 'never-healthy', what: 'never passes its health check' },
];

/** Each flaw once: three rolled back automatically, a failing migration, a release never healthy. */
export const EACH_FLAW_ONCE: BadRelease[] = BAD_RELEASES.filter(
  (release, index) => BAD_RELEASES.findIndex((other) => other.flaw === release.flaw) === index,
);

export interface MarathonOptions {
  goodRuns?: number;
  badReleases?: BadRelease[];
  manualRollbacks?: number;
  log?: (line: string) => void;
}

export async function runMarathon(fleet: Fleet, options: MarathonOptions = {}): Promise<MarathonResult> {
  const { goodRuns = 10, badReleases = BAD_RELEASES, manualRollbacks = 5, log = () => {} } = options;
  const stagingUrl = await fleet.routeUrl('payment', 'staging');
  const productionUrl = await fleet.routeUrl('payment', 'production');
  const staging = spawnTraffic({ url: `${stagingUrl}/`, peerPath: '/peer', clients: 3, websocketUrl: `${stagingUrl.replace(/^http/, 'ws')}/ws`, slowEveryMs: 700, slowMs: 600 });
  const production = spawnTraffic({ url: `${productionUrl}/`, peerPath: '/peer', clients: 2, longKeepAlive: false });
  const canary = { sent: 0, errors: 0, stop: false };
  const canaryLoop = (async () => {
    while (!canary.stop) {
      canary.sent++;
      const status = await fetch(`${stagingUrl}${BROKEN_ENDPOINT}`, { signal: AbortSignal.timeout(5_000) }).then(
        (response) => response.arrayBuffer().then(() => response.status),
        () => 0,
      );
      if (status !== 200) canary.errors++;
      await sleep(100);
    }
  })();

  const steps: MarathonStep[] = [];
  const durationsMs: number[] = [];
  const record = async (what: string, service: ServiceName, act: () => Promise<RunDetail>) => {
    const started = Date.now();
    const run = await act();
    const ended = Date.now();
    durationsMs.push(ended - started);
    const deployments = (await fleet.admin.deployments({ service, limit: 10 })).filter((deployment) => deployment.runId === run.id).reverse();
    steps.push({ what, service, run, deployments, startedAt: started, endedAt: ended });
    log(`${what}: run #${run.id} ${run.status}${run.reason ? ` (${run.reason.slice(0, 160)})` : ''}`);
  };

  try {
    let bad = 0;
    let rollbacks = 0;
    for (let index = 0; index < goodRuns; index++) {
      const service: ServiceName = index % 2 === 0 ? 'payment' : 'notification';
      const label = fleet.commit(service);
      await record(`${label} deploys`, service, () => fleet.run(service));
      // Bad releases of payment, two at a time between good deploys of either service; before
      // the last good run, all that are left, so a good deploy ends the marathon.
      const badNow = index % 2 === 1 ? (index === goodRuns - 2 ? badReleases.length : Math.min(bad + 2, badReleases.length)) : bad;
      while (bad < badNow) {
        const { flaw, what } = badReleases[bad++]!;
        const badLabel = fleet.commit('payment', flaw);
        await record(`${badLabel} ${what}`, 'payment', () => fleet.run('payment'));
      }
      if (index % 2 === 1 && rollbacks < manualRollbacks) {
        rollbacks++;
        const environment = rollbacks % 2 === 1 ? 'staging' : 'production';
        await record(`manual rollback of notification in ${environment}`, 'notification', () => fleet.rollback('notification', environment));
      }
    }
    while (bad < badReleases.length) {
      const { flaw, what } = badReleases[bad++]!;
      const badLabel = fleet.commit('payment', flaw);
      await record(`${badLabel} ${what}`, 'payment', () => fleet.run('payment'));
    }
    while (rollbacks < manualRollbacks) {
      rollbacks++;
      await record('manual rollback of payment in staging', 'payment', () => fleet.rollback('payment', 'staging'));
    }
  } finally {
    canary.stop = true;
    await canaryLoop;
  }
  return { steps, staging: await staging.stop(), production: await production.stop(), canary: { sent: canary.sent, errors: canary.errors }, durationsMs };
}
