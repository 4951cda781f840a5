// The frame of each settings section, and the line under a form that says how it went.

import type { ReactNode } from 'react';
import { ErrorNote } from '../../ui.tsx';

export function Section({ id, title, intro, children }: { id: string; title: string; intro: ReactNode; children: ReactNode }) {
  return (
    <section id={id} aria-labelledby={`${id}-title`} className="settings-section">
      <h2 id={`${id}-title`}>{title}</h2>
      <p className="muted small">{intro}</p>
      {children}
    </section>
  );
}

export function Outcome({ error, done }: { error: unknown; done: string | null }) {
  return (
    <>
      <ErrorNote error={error} />
      <p className="ok small" role="status">
        {done}
      </p>
    </>
  );
}
