// Runs as a table, newest first: the runs page and a service's recent runs show them alike.

import { Link } from 'react-router';
import type { RunSummary } from '../../../src/client/api.ts';
import { triggerText } from '../../../src/core/words.ts';
import { Ago, Commit, Duration, Status } from '../ui.tsx';

/** `showService`: a column naming each run's service, where the runs are of more than one. */
export function RunTable({ runs, showService, testId }: { runs: RunSummary[]; showService: boolean; testId?: string }) {
  return (
    <div className="table-scroll">
      <table data-testid={testId}>
        <thead>
          <tr>
            <th scope="col">Run</th>
            {showService && <th scope="col">Service</th>}
            <th scope="col">Status</th>
            <th scope="col">Commit</th>
            <th scope="col">Started by</th>
            <th scope="col">Created</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.id}>
              <td>
                <Link to={`/runs/${run.id}`}>#{run.id}</Link>
              </td>
              {showService && (
                <td>
                  <Link to={`/services/${encodeURIComponent(run.service)}`}>{run.service}</Link>
                </td>
              )}
              <td>
                <Status status={run.status} />
              </td>
              <td>{run.commitSha ? <Commit sha={run.commitSha} title={run.commitTitle} author={run.commitAuthor} /> : <span className="muted">{run.ref}</span>}</td>
              <td>{triggerText(run)}</td>
              <td>
                <Ago at={run.createdAt} />
              </td>
              <td>
                <Duration from={run.startedAt} to={run.finishedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
