// The test command's reporter: node's TAP, with the failed tests listed once more, each with its
// file and error, just before the summary, so the end of a long run's output says what failed.
// The summary stays the last output.
import { relative } from 'node:path';
import { tap } from 'node:test/reporters';

export default async function* failuresBeforeSummary(source) {
  /** Per file, the names of the tests in progress by nesting level: a failure's path. */
  const open = new Map();
  const failures = [];
  async function* watch() {
    for await (const event of source) {
      const { file = '', nesting = 0, name } = event.data ?? {};
      if (event.type === 'test:start') {
        const names = open.get(file) ?? [];
        names.length = nesting;
        names.push(name);
        open.set(file, names);
      } else if (event.type === 'test:fail' && event.data.details.error?.failureType !== 'subtestsFailed') {
        const path = [...(open.get(file) ?? []).slice(0, nesting), name].join(' › ');
        failures.push({ file: file && relative(process.cwd(), file), path, error: event.data.details.error });
      }
      yield event;
    }
  }
  let listed = false;
  for await (const chunk of tap(watch())) {
    if (!listed && /^# tests \d+/.test(chunk)) {
      listed = true;
      if (failures.length > 0) yield listOf(failures);
    }
    yield chunk;
  }
}

function listOf(failures) {
  const lines = [`# ${failures.length} failed:`];
  for (const { file, path, error } of failures) {
    lines.push(`#   ${file}: ${path}`);
    const message = String(error?.cause?.message ?? error?.message ?? error).split('\n').slice(0, 6);
    for (const line of message) lines.push(`#     ${line}`);
  }
  return `${lines.join('\n')}\n`;
}
