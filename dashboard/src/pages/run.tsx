// Run: its stages in pipeline order with live status and duration, the selected stage's log
// streaming live, cancel, rerun and resume, and the approval panel while it waits at a gate.

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useLocation, useNavigate, useParams, useSearchParams } from 'react-router';
import type { RunDetail, Stage } from '../../../src/client/api.ts';
import { isTerminalRun } from '../../../src/core/types.ts';
import { triggerText } from '../../../src/core/words.ts';
import { ApprovalPanel } from '../components/approval-panel.tsx';
import { LogView } from '../components/log-view.tsx';
import { useSession } from '../session.tsx';
import { Ago, Commit, ConfirmDialog, Duration, ErrorNote, Loading, Status } from '../ui.tsx';

export function RunPage() {
  const id = Number(useParams().id);
  const { client } = useSession();
  const run = useQuery({ queryKey: ['run', id], queryFn: () => client.run(id), enabled: Number.isInteger(id) && id > 0 });
  const [params, setParams] = useSearchParams();
  const location = useLocation();
  const highlight = /^#L(\d+)$/.exec(location.hash)?.[1];

  if (run.error) return <ErrorNote error={run.error} />;
  if (!run.data) return <Loading what={`run #${id}`} />;
  const detail = run.data;
  const chosen = Number(params.get('stage'));
  const stage = detail.stages.find((candidate) => candidate.id === chosen) ?? defaultStage(detail.stages);

  return (
    <section aria-labelledby="run-title" className="run-page">
      <RunHeader run={detail} />
      {detail.status === 'waiting' && <ApprovalPanel runId={detail.id} />}
      <StageGraph stages={detail.stages} selected={stage?.id ?? null} onSelect={(stageId) => setParams({ stage: String(stageId) })} />
      {stage && (
        <div className="stage-log">
          <h2>
            {stage.name} <Status status={stage.status} /> <Duration from={stage.startedAt} to={stage.finishedAt} />
          </h2>
          {stage.reason && <p className={stage.status === 'failed' ? 'error' : 'muted'}>{stage.reason}</p>}
          {stage.command && (
            <pre className="command" aria-label="Command">
              $ {stage.command}
            </pre>
          )}
          <LogView key={stage.id} runId={detail.id} stageId={stage.id} live={stage.status === 'running'} highlight={highlight ? Number(highlight) : null} />
        </div>
      )}
    </section>
  );
}

/** The stage worth looking at first: the one running or waiting, else the first that failed, else the last that ran. */
function defaultStage(stages: Stage[]): Stage | undefined {
  return (
    stages.find((stage) => stage.status === 'running' || stage.status === 'waiting') ??
    stages.find((stage) => stage.status === 'failed') ??
    [...stages].reverse().find((stage) => stage.startedAt !== null) ??
    stages[0]
  );
}

function RunHeader({ run }: { run: RunDetail }) {
  const { client, can } = useSession();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [cancelling, setCancelling] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const terminal = isTerminalRun(run.status);

  async function again(how: 'rerun' | 'resume') {
    setError(null);
    try {
      const started = how === 'rerun' ? await client.rerun(run.id) : await client.resume(run.id);
      await queries.invalidateQueries({ queryKey: ['runs'] });
      void navigate(`/runs/${started.id}`);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <header className="run-head">
      <div className="page-head">
        <h1 id="run-title">
          <Link to={`/services/${encodeURIComponent(run.service)}`}>{run.service}</Link> <span className="muted">run #{run.id}</span> <Status status={run.status} />
        </h1>
        {can('developer') && (
          <div className="actions">
            {!terminal && (
              <button className="danger" onClick={() => setCancelling(true)}>
                Cancel
              </button>
            )}
            {terminal && (run.status === 'failed' || run.status === 'cancelled') && <button onClick={() => void again('resume')}>Resume</button>}
            {terminal && <button onClick={() => void again('rerun')}>Rerun</button>}
          </div>
        )}
      </div>
      <dl className="facts inline">
        <dt>Commit</dt>
        <dd>{run.commitSha ? <Commit sha={run.commitSha} title={run.commitTitle} author={run.commitAuthor} /> : <span className="muted">{run.ref}</span>}</dd>
        <dt>Started by</dt>
        <dd>{triggerText(run)}</dd>
        <dt>Lane</dt>
        <dd>
          {run.lane} <span className="muted">({run.concurrency})</span>
        </dd>
        <dt>Created</dt>
        <dd>
          <Ago at={run.createdAt} />
        </dd>
        <dt>Duration</dt>
        <dd>
          <Duration from={run.startedAt} to={run.finishedAt} />
        </dd>
        {run.queuePosition !== null && (
          <>
            <dt>Queue</dt>
            <dd>number {run.queuePosition} in its lane</dd>
          </>
        )}
        {run.preview?.url && (
          <>
            <dt>Preview</dt>
            <dd>
              <a href={run.preview.url}>{run.preview.url}</a>
            </dd>
          </>
        )}
      </dl>
      {run.reason && <p className={run.status === 'failed' ? 'error' : 'muted'}>{run.reason}</p>}
      <ErrorNote error={error} />
      {cancelling && (
        <ConfirmDialog
          title={`Cancel run #${run.id}?`}
          confirm="Cancel the run"
          danger
          onClose={() => setCancelling(false)}
          onConfirm={async () => {
            await client.cancelRun(run.id);
            await queries.invalidateQueries({ queryKey: ['run', run.id] });
          }}
        >
          <p>
            The stage in progress is stopped and the stages after it do not run. {run.service} stays as it is in every environment.
          </p>
        </ConfirmDialog>
      )}
    </header>
  );
}

/** The stages as a flow in pipeline order: each with its status and duration; one is selected. */
function StageGraph({ stages, selected, onSelect }: { stages: Stage[]; selected: number | null; onSelect: (id: number) => void }) {
  return (
    <ol className="stage-graph" aria-label="Stages">
      {stages.map((stage) => (
        <li key={stage.id} className={`stage-node status-${stage.status}${stage.id === selected ? ' selected' : ''}`}>
          <button onClick={() => onSelect(stage.id)} aria-current={stage.id === selected ? 'step' : undefined}>
            <span className="stage-name">{stage.name}</span>
            <span className="stage-meta">
              <Status status={stage.status} /> <Duration from={stage.startedAt} to={stage.finishedAt} />
            </span>
            {stage.environment && <span className="stage-env muted small">→ {stage.environment}</span>}
          </button>
        </li>
      ))}
    </ol>
  );
}
