// A run's workspace holds what earlier steps wrote, and a step is hostile: a symlink it left
// (or one committed to the repository) must not turn "build the service's folder" into "send
// the server's data folder to the image builder". Paths the engine hands on are checked after
// following every link.

import { realpath } from 'node:fs/promises';
import { relative, isAbsolute } from 'node:path';

/** Why `path` (as `what`) is not inside `workspace` once links are followed, or null when it is. */
export async function outsideWorkspace(workspace: string, path: string, what: string): Promise<string | null> {
  let root: string;
  let target: string;
  try {
    [root, target] = await Promise.all([realpath(workspace), realpath(path)]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null; // the builder says what is missing
    throw error;
  }
  const inside = relative(root, target);
  return inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))
    ? null
    : `the ${what} ${relative(workspace, path) || '.'} leads outside the workspace (to ${target}); it may not be built`;
}
