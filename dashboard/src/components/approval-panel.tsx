// What a run waits for at an environment's gate, and, for an approval, who may give it, who
// did, until when it waits; approve or reject with a comment. The server decides: a refusal
// (your own commit, your own run) comes back in its words.

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useSession } from '../session.tsx';
import { Ago, ErrorNote, messageOf } from '../ui.tsx';

export function ApprovalPanel({ runId }: { runId: number }) {
  const { client, can } = useSession();
  const queries = useQueryClient();
  const approval = useQuery({ queryKey: ['approval', runId], queryFn: () => client.approval(runId) });
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ error?: unknown; done?: string } | null>(null);

  if (!approval.data) return <ErrorNote error={approval.error} />;
  const state = approval.data;
  if (!state.wait) return null;

  async function decide(decision: 'approve' | 'reject') {
    setBusy(true);
    setOutcome(null);
    try {
      const body = comment.trim() ? { comment: comment.trim() } : {};
      const after = decision === 'approve' ? await client.approve(runId, body) : await client.reject(runId, body);
      queries.setQueryData(['approval', runId], after);
      setComment('');
      setOutcome({ done: decision === 'approve' ? 'Approved.' : 'Rejected.' });
      await queries.invalidateQueries({ queryKey: ['run', runId] });
    } catch (error) {
      setOutcome({ error });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel approval" aria-labelledby="approval-title">
      <h2 id="approval-title">
        Waiting for {state.wait.kind} before {state.environment}
      </h2>
      <p>{state.wait.detail}</p>
      <dl className="facts">
        {state.release && (
          <>
            <dt>Release</dt>
            <dd>
              #{state.release.id} <code>{state.release.digest.slice(0, 19)}</code>
            </dd>
          </>
        )}
        <dt>Waiting since</dt>
        <dd>
          <Ago at={state.wait.since} />
        </dd>
        {state.wait.until && (
          <>
            <dt>{state.wait.kind === 'approval' ? 'Expires' : 'Until'}</dt>
            <dd>
              <Ago at={state.wait.until} future />
            </dd>
          </>
        )}
      </dl>
      {state.needsApproval && (
        <>
          <h3>Rules</h3>
          <ul className="rules">
            {state.rules.map((rule, index) => (
              <li key={index}>
                {rule.count} from {[...rule.roles.map((role) => `role ${role} or above`), ...rule.users].join(' or ')}:{' '}
                {rule.approvedBy.length > 0 ? `approved by ${rule.approvedBy.join(', ')}` : 'none yet'}
                {rule.missing > 0 ? <strong> · {rule.missing} missing</strong> : ' · met'}
              </li>
            ))}
          </ul>
          <p className="small">
            <span className="muted">May approve:</span> {state.eligible.length > 0 ? state.eligible.join(', ') : 'nobody yet (every eligible user is an author of this change)'}
          </p>
          {state.decisions.length > 0 && (
            <>
              <h3>Decisions</h3>
              <ul className="decisions">
                {state.decisions.map((decision) => (
                  <li key={decision.id}>
                    <strong>{decision.user}</strong> ({decision.role}) {decision.decision === 'approve' ? 'approved' : 'rejected'} <Ago at={decision.at} />
                    {decision.comment && <q>{decision.comment}</q>}
                  </li>
                ))}
              </ul>
            </>
          )}
          {can('developer') && (
            <div className="decide">
              {!state.you.mayApprove && state.you.reason && <p className="muted small">You may not approve: {state.you.reason}</p>}
              <label>
                Comment <span className="muted small">(needed to reject)</span>
                <textarea value={comment} onChange={(event) => setComment(event.target.value)} rows={2} />
              </label>
              <div className="actions">
                <button className="primary" disabled={busy || !state.you.mayApprove} onClick={() => void decide('approve')}>
                  Approve
                </button>
                <button className="danger" disabled={busy || !comment.trim()} onClick={() => void decide('reject')}>
                  Reject
                </button>
              </div>
              {outcome?.done && (
                <p className="ok" role="status">
                  {outcome.done}
                </p>
              )}
              {outcome?.error !== undefined && (
                <p className="error" role="alert">
                  {messageOf(outcome.error)}
                </p>
              )}
            </div>
          )}
        </>
      )}
    </section>
  );
}
