// A stage's log: loaded in pages as it is read, new lines streaming in live, ANSI colours
// rendered, stderr set apart, searchable, each line a link. Only the rows on screen are in the
// page, so a log of 100,000 lines scrolls as smoothly as one of ten.

import { useVirtualizer } from '@tanstack/react-virtual';
import Anser from 'anser';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { LogLine } from '../../../src/client/api.ts';
import { useSession } from '../session.tsx';
import { ErrorNote } from '../ui.tsx';

const PAGE_LINES = 5000;
/** The next page is asked for while this many loaded lines are still below the screen. */
const PREFETCH_LINES = 2000;
const ROW_PX = 20;

interface LogState {
  lines: LogLine[];
  /** Every stored line is loaded: live lines are appended from here on. */
  complete: boolean;
  loading: boolean;
  error: unknown;
}

export function LogView({ runId, stageId, live, highlight }: { runId: number; stageId: number; live: boolean; highlight: number | null }) {
  const { client } = useSession();
  const [state, setState] = useState<LogState>({ lines: [], complete: false, loading: true, error: null });
  const [search, setSearch] = useState('');
  const [matchIndex, setMatchIndex] = useState(0);
  const [follow, setFollow] = useState(true);
  const stateRef = useRef(state);
  stateRef.current = state;
  /** Live lines that came before the pages reached them, by seq. */
  const early = useRef(new Map<number, LogLine>());

  const loadPage = useCallback(async () => {
    const current = stateRef.current;
    if (current.complete) return;
    setState((previous) => ({ ...previous, loading: true }));
    try {
      const after = current.lines.at(-1)?.seq ?? 0;
      const page = await client.logs(runId, { stage: stageId, after, limit: PAGE_LINES });
      setState((previous) => {
        const last = previous.lines.at(-1)?.seq ?? 0;
        let lines = previous.lines.concat(page.filter((line) => line.seq > last));
        const complete = page.length < PAGE_LINES;
        if (complete) {
          const tail = lines.at(-1)?.seq ?? 0;
          lines = lines.concat([...early.current.values()].filter((line) => line.seq > tail).sort((a, b) => a.seq - b.seq));
          early.current.clear();
        }
        return { lines, complete, loading: false, error: null };
      });
    } catch (error) {
      setState((previous) => ({ ...previous, loading: false, error }));
    }
  }, [client, runId, stageId]);

  useEffect(() => {
    early.current.clear();
    setState({ lines: [], complete: false, loading: true, error: null });
    stateRef.current = { lines: [], complete: false, loading: true, error: null };
    void loadPage();
  }, [loadPage]);

  // Live lines of this stage, while the run goes on.
  useEffect(() => {
    if (!live) return;
    const abort = new AbortController();
    void (async () => {
      try {
        for await (const item of client.events({ run: runId, types: ['log'] }, abort.signal)) {
          if (item.type === 'reset') {
            // Lines went by unseen: read what is stored after the last one shown.
            setState((previous) => ({ ...previous, complete: false }));
            stateRef.current = { ...stateRef.current, complete: false };
            void loadPage();
          }
          if (item.type !== 'log' || item.data.stageId !== stageId) continue;
          const line = item.data;
          if (!stateRef.current.complete) {
            early.current.set(line.seq, line);
            continue;
          }
          setState((previous) => ((previous.lines.at(-1)?.seq ?? 0) >= line.seq ? previous : { ...previous, lines: [...previous.lines, line] }));
        }
      } catch {
        // The page's own stream shows the connection's state; the stage's end reloads the log.
      }
    })();
    return () => abort.abort();
  }, [client, runId, stageId, live, loadPage]);

  const query = search.trim().toLowerCase();
  const matches = useMemo(() => {
    if (!query) return [];
    const found: number[] = [];
    state.lines.forEach((line, index) => {
      if (stripAnsi(line.text).toLowerCase().includes(query)) found.push(index);
    });
    return found;
  }, [state.lines, query]);

  // Searching and jumping to the last line read the whole log: the line may be on a page not loaded yet.
  const [toEnd, setToEnd] = useState(false);
  useEffect(() => {
    if ((query || toEnd) && !state.complete && !state.loading && !state.error) void loadPage();
  }, [query, toEnd, state.complete, state.loading, state.error, loadPage]);

  const scroller = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: state.lines.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_PX, overscan: 30 });

  // Load the next page when the reader nears the end of what is loaded.
  const items = rows.getVirtualItems();
  const lastShown = items.at(-1)?.index ?? 0;
  useEffect(() => {
    if (!state.complete && !state.loading && !state.error && lastShown >= state.lines.length - PREFETCH_LINES) void loadPage();
  }, [lastShown, state.complete, state.loading, state.error, state.lines.length, loadPage]);

  // Following: new lines keep the end in view until the reader scrolls up.
  useEffect(() => {
    if (follow && live && state.complete && state.lines.length > 0 && !query) rows.scrollToIndex(state.lines.length - 1, { align: 'end' });
  }, [state.lines.length, follow, live, state.complete, query, rows]);

  useEffect(() => {
    if (!toEnd || !state.complete || state.lines.length === 0) return;
    rows.scrollToIndex(state.lines.length - 1, { align: 'end' });
    setToEnd(false);
  }, [toEnd, state.complete, state.lines.length, rows]);

  const highlightIndex = useMemo(() => (highlight === null ? -1 : state.lines.findIndex((line) => line.seq === highlight)), [state.lines, highlight]);
  useEffect(() => {
    if (highlightIndex >= 0) {
      setFollow(false);
      rows.scrollToIndex(highlightIndex, { align: 'center' });
    }
  }, [highlightIndex, rows]);

  const current = matches.length > 0 ? matches[Math.min(matchIndex, matches.length - 1)] : undefined;
  useEffect(() => {
    if (current !== undefined) rows.scrollToIndex(current, { align: 'center' });
  }, [current, rows]);

  return (
    <div className="log">
      <div className="log-tools" role="search">
        <input
          type="search"
          placeholder="Search the log"
          aria-label="Search the log"
          value={search}
          onChange={(event) => {
            setSearch(event.target.value);
            setMatchIndex(0);
          }}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && matches.length > 0) setMatchIndex((index) => (index + (event.shiftKey ? matches.length - 1 : 1)) % matches.length);
          }}
        />
        {query && (
          <span className="muted small" aria-live="polite">
            {matches.length === 0 ? (state.complete ? 'no match' : 'searching…') : `${Math.min(matchIndex, matches.length - 1) + 1} of ${matches.length}`}
          </span>
        )}
        {query && matches.length > 1 && (
          <>
            <button className="small-button" onClick={() => setMatchIndex((index) => (index + matches.length - 1) % matches.length)} aria-label="Previous match">
              ↑
            </button>
            <button className="small-button" onClick={() => setMatchIndex((index) => (index + 1) % matches.length)} aria-label="Next match">
              ↓
            </button>
          </>
        )}
        {live && (
          <label className="small follow">
            <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} /> follow
          </label>
        )}
        <button className="small-button" onClick={() => setToEnd(true)} disabled={toEnd}>
          {toEnd ? 'Loading…' : 'Last line'}
        </button>
        <span className="muted small log-count">
          {state.lines.length.toLocaleString()} lines{state.complete ? '' : ' loaded'}
        </span>
      </div>
      <ErrorNote error={state.error} />
      <div
        className="log-lines"
        ref={scroller}
        tabIndex={0}
        aria-label="Stage log"
        data-testid="log"
        onWheel={(event) => {
          if (event.deltaY < 0) setFollow(false);
        }}
      >
        <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
          {items.map((item) => {
            const line = state.lines[item.index]!;
            return (
              <LogRow
                key={line.seq}
                line={line}
                top={item.start}
                selected={item.index === highlightIndex}
                matched={query !== '' && item.index === current}
              />
            );
          })}
        </div>
        {state.lines.length === 0 && !state.loading && <p className="muted log-empty">{live ? 'Waiting for output…' : 'This stage wrote nothing.'}</p>}
      </div>
    </div>
  );
}

const LogRow = memo(function LogRow({ line, top, selected, matched }: { line: LogLine; top: number; selected: boolean; matched: boolean }) {
  const parts = useMemo(() => Anser.ansiToJson(line.text, { json: true, remove_empty: true, use_classes: false }), [line.text]);
  return (
    <div
      className={`log-line stream-${line.stream}${selected ? ' selected' : ''}${matched ? ' matched' : ''}`}
      style={{ transform: `translateY(${top}px)` }}
      data-seq={line.seq}
    >
      <a className="log-number" href={`#L${line.seq}`} id={`L${line.seq}`} tabIndex={-1}>
        {line.seq}
      </a>
      <span className="log-text">
        {parts.map((part, index) => (
          <span
            key={index}
            style={{
              color: part.fg ? `rgb(${part.fg})` : undefined,
              backgroundColor: part.bg ? `rgb(${part.bg})` : undefined,
              fontWeight: part.decorations.includes('bold') ? 600 : undefined,
              fontStyle: part.decorations.includes('italic') ? 'italic' : undefined,
              textDecoration: part.decorations.includes('underline') ? 'underline' : undefined,
            }}
          >
            {part.content}
          </span>
        ))}
      </span>
    </div>
  );
});

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
}
