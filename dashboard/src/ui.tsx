// Small pieces every page uses: statuses, times, errors, a confirmation dialog.

import { useCallback, useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import { ApiError } from '../../src/client/client.ts';
import { ago, duration, fromNow, shortSha } from '../../src/core/words.ts';

export { ago, duration, fromNow, shortSha };

/** What went wrong, in the server's words when it said any. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

const STATUS_LABELS: Record<string, string> = {
  pending: 'queued',
  running: 'running',
  waiting: 'waiting',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  skipped: 'skipped',
  rejected: 'rejected',
  expired: 'expired',
  in_progress: 'deploying',
  rolled_back: 'rolled back',
};

/** A run's, stage's or deployment's status as a coloured word with a symbol (never colour alone). */
export function Status({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`status status-${status}`}>
      <span className="status-dot" aria-hidden="true" />
      {label ?? STATUS_LABELS[status] ?? status}
    </span>
  );
}

/** A relative time that stays fresh, with the exact time on hover. */
export function Ago({ at, future = false }: { at: string | null; future?: boolean }) {
  useTick(15_000);
  if (!at) return null;
  return (
    <time dateTime={at} title={new Date(at).toLocaleString()}>
      {future ? fromNow(at) : ago(at)}
    </time>
  );
}

/** How long something took, or has taken so far while it runs. */
export function Duration({ from, to }: { from: string | null; to: string | null }) {
  useTick(to ? null : 1000);
  return <span className="duration">{duration(from, to)}</span>;
}

/**
 * Re-renders every `ms` (null: never) on one shared timer per interval: a page of a thousand
 * relative times runs two timers, not a thousand.
 */
function useTick(ms: number | null): void {
  const subscribe = useCallback((onTick: () => void) => (ms === null ? () => {} : clock(ms).subscribe(onTick)), [ms]);
  useSyncExternalStore(subscribe, () => (ms === null ? 0 : clock(ms).tick));
}

interface Clock {
  tick: number;
  subscribe(listener: () => void): () => void;
}

const clocks = new Map<number, Clock>();

function clock(ms: number): Clock {
  const found = clocks.get(ms);
  if (found) return found;
  const listeners = new Set<() => void>();
  let timer: ReturnType<typeof setInterval> | null = null;
  const made: Clock = {
    tick: 0,
    subscribe(listener) {
      listeners.add(listener);
      timer ??= setInterval(() => {
        made.tick += 1;
        for (const each of listeners) each();
      }, ms);
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer !== null) {
          clearInterval(timer);
          timer = null;
        }
      };
    },
  };
  clocks.set(ms, made);
  return made;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {messageOf(error)}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}

/**
 * A modal dialog (the browser's own <dialog>: focus kept inside, Escape closes) that says what
 * will change and asks before doing it; what it does reports its error here.
 */
export function ConfirmDialog(props: {
  title: string;
  children: ReactNode;
  confirm: string;
  danger?: boolean;
  /** A comment or reason field, when the action takes one. */
  comment?: { label: string; required?: boolean };
  onConfirm: (comment: string) => Promise<unknown>;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm(comment.trim());
      props.onClose();
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }

  return (
    <dialog ref={dialog} className="dialog" onClose={props.onClose} aria-labelledby="dialog-title">
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          void confirm();
        }}
      >
        <h2 id="dialog-title">{props.title}</h2>
        <div className="dialog-body">{props.children}</div>
        {props.comment && (
          <label>
            {props.comment.label}
            <textarea value={comment} onChange={(event) => setComment(event.target.value)} required={props.comment.required} rows={3} />
          </label>
        )}
        <ErrorNote error={error} />
        <div className="dialog-actions">
          <button type="button" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Working…' : props.confirm}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** The first line of a commit, its short sha and author, as the fleet and release lists show it. */
export function Commit({ sha, title, author }: { sha: string; title: string | null; author: { name: string } | null }) {
  return (
    <span className="commit">
      <code>{shortSha(sha)}</code> {title && <span className="commit-title">{title}</span>}
      {author && <span className="muted"> · {author.name}</span>}
    </span>
  );
}
