// A plain repository (the `git` forge: a bare repository whose post-receive hook notifies
// Slipway) has no API and no page that could show a commit status, so it never has a reporter:
// its runs' statuses are seen in Slipway itself. The function exists so every forge's folder
// answers the same question the same way.

import type { StatusReporter, StatusReporterSettings } from '../forge.ts';

export function createStatusReporter(_settings: StatusReporterSettings | null): StatusReporter | null {
  return null;
}
