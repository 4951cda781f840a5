// What holds a run at a gate, for people: shared by `approval`, `promote --wait` and `run --wait`.

import type { SlipwayClient } from '../client/client.ts';
import type { ApprovalState } from '../client/delivery-api.ts';
import { ago, clockTime, dim, fromNow, statusSymbol, table, yellow } from './format.ts';
import { print } from './output.ts';

/** What a gate holds a run for, since and until when (or what lets it through), and who may approve. */
export function gateRows({ wait, eligible }: ApprovalState): string[][] {
  if (!wait) return [];
  const rows = [
    ['  waiting', `${statusSymbol('waiting')} ${wait.detail}`],
    ['  since', `${ago(wait.since)} ${dim(`(${clockTime(wait.since)})`)}`],
  ];
  if (wait.until) {
    const then = wait.kind === 'approval' ? ', then the run expires' : ', then the gate is looked at again';
    rows.push(['  until', `${fromNow(wait.until)} ${dim(`(${clockTime(wait.until)})${then}`)}`]);
  } else if (wait.kind === 'lock') rows.push(['  until', dim('someone unlocks it (slipway locks)')]);
  if (wait.kind === 'approval') rows.push(['  may approve', eligible.length > 0 ? eligible.join(', ') : yellow('nobody: no user fits the rules')]);
  return rows;
}

export const decisionHint = (runId: number) => dim(`  approve: slipway approve ${runId}   reject: slipway reject ${runId} -m <reason>`);


/** A run that stopped at a gate: what for, until when, and how to let it through. */
export async function printGate(api: SlipwayClient, runId: number): Promise<void> {
  const state = await api.approval(runId);
  print(table(gateRows(state)));
  if (state.wait?.kind === 'approval') print(decisionHint(runId));
}
