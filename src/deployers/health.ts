// The HTTP health check deployers gate a release on: one GET at a time, 2xx means healthy.
// Kept apart from any one target so every deployer words its probes and durations alike.

const HEALTH_REQUEST_TIMEOUT_MS = 2_000;

export type Probe = { answered: true; status: number } | { answered: false; detail: string; response?: string };

export async function probeOnce(url: string, signal: AbortSignal): Promise<Probe> {
  const timeout = AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS);
  try {
    const response = await fetch(url, { signal: AbortSignal.any([signal, timeout]), redirect: 'manual' });
    const body = await response.text().catch(() => '');
    if (response.status >= 200 && response.status < 300) return { answered: true, status: response.status };
    return { answered: false, detail: `HTTP ${response.status}`, response: body.replace(/\s+/g, ' ').trim().slice(0, 200) || '(empty body)' };
  } catch (error) {
    if (signal.aborted) throw error;
    if (timeout.aborted) return { answered: false, detail: `no answer within ${duration(HEALTH_REQUEST_TIMEOUT_MS)}` };
    return { answered: false, detail: networkErrorText(error) };
  }
}

function networkErrorText(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    default:
      return cause?.message ?? errorText(error);
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
