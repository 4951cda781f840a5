// The page an approval notification links to (/runs/<id>/approval): it signs a person in with
// their password (the token stays in this tab's sessionStorage), shows what the run waits for,
// the release and its digest, who may approve and who did, and approves or rejects through the
// same API the CLI uses. One static document, no cookies (so no cross-site request can act for
// anyone), a strict Content-Security-Policy; the dashboard will take this over.

import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

const SCRIPT = `
const runId = Number(location.pathname.split('/')[2]);
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem('slipway-token');
async function api(method, path, body) {
  const response = await fetch('/api' + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token() ? { authorization: 'Bearer ' + token() } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(answer?.error?.message ?? 'HTTP ' + response.status);
  return answer;
}
function text(id, value) { $(id).textContent = value; }
async function show() {
  $('login').hidden = Boolean(token());
  $('approval').hidden = !token();
  if (!token()) return;
  try {
    const state = await api('GET', '/runs/' + runId + '/approval');
    text('title', state.service + ' run #' + state.runId + ' → ' + state.environment);
    text('release', state.release ? 'release #' + state.release.id + ' · ' + state.release.commitSha.slice(0, 12) + ' · ' + state.release.digest : 'no release');
    text('wait', state.wait ? state.wait.detail + (state.wait.until ? ' (until ' + new Date(state.wait.until).toLocaleString() + ')' : '') : 'This run is not waiting.');
    text('eligible', state.eligible.length ? 'May approve: ' + state.eligible.join(', ') : '');
    $('decisions').replaceChildren(...state.decisions.map((d) => {
      const item = document.createElement('li');
      item.textContent = d.user + ' ' + (d.decision === 'approve' ? 'approved' : 'rejected') + (d.comment ? ': ' + d.comment : '') + ' (' + new Date(d.at).toLocaleString() + ')';
      return item;
    }));
    $('decide').hidden = !state.you.mayApprove;
    text('why-not', state.you.mayApprove ? '' : state.you.reason ?? '');
  } catch (error) {
    text('error', error.message);
  }
}
$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const issued = await api('POST', '/login', { user: $('user').value, password: $('password').value, name: 'approval page' });
    sessionStorage.setItem('slipway-token', issued.token);
    text('error', '');
    await show();
  } catch (error) {
    text('error', error.message);
  }
});
for (const decision of ['approve', 'reject']) {
  $(decision).addEventListener('click', async () => {
    try {
      const comment = $('comment').value.trim();
      await api('POST', '/runs/' + runId + '/' + decision, comment ? { comment } : {});
      text('error', '');
    } catch (error) {
      text('error', error.message);
    }
    await show();
  });
}
show();
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Slipway approval</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #1d232b; }
  h1 { font-size: 1.3rem; } code, #release { font-family: ui-monospace, monospace; font-size: 0.9rem; word-break: break-all; }
  input, textarea, button { font: inherit; padding: 0.4rem 0.6rem; margin: 0.2rem 0; }
  textarea { width: 100%; box-sizing: border-box; } #error { color: #b3261e; } #why-not { color: #5f6b7a; }
  button { cursor: pointer; border: 1px solid #8a96a3; border-radius: 4px; background: #f4f6f8; } #approve { background: #1f7a3a; color: #fff; border-color: #1f7a3a; }
</style>
</head>
<body>
<h1 id="title">Approval</h1>
<section id="login" hidden>
  <p>Sign in to Slipway to see and decide this approval.</p>
  <form id="login-form">
    <label>User <input id="user" autocomplete="username" required></label><br>
    <label>Password <input id="password" type="password" autocomplete="current-password" required></label><br>
    <button type="submit">Sign in</button>
  </form>
</section>
<section id="approval" hidden>
  <p id="release"></p>
  <p id="wait"></p>
  <p id="eligible"></p>
  <ul id="decisions"></ul>
  <div id="decide" hidden>
    <label for="comment">Comment (needed to reject)</label>
    <textarea id="comment" rows="3" maxlength="2000"></textarea>
    <button id="approve" type="button">Approve</button> <button id="reject" type="button">Reject</button>
  </div>
  <p id="why-not"></p>
</section>
<p id="error" role="alert"></p>
<script>${SCRIPT}</script>
</body>
</html>`;

/** GET /runs/:id/approval: the page; it reads and acts through /api with the signed-in user's token. */
export function approvalPage(): MiddlewareHandler {
  const scriptHash = `'sha256-${createHash('sha256').update(SCRIPT).digest('base64')}'`;
  return async (c) => {
    c.header('content-security-policy', `default-src 'none'; script-src ${scriptHash}; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`);
    c.header('referrer-policy', 'no-referrer');
    c.header('x-content-type-options', 'nosniff');
    c.header('cache-control', 'no-store');
    return c.html(PAGE);
  };
}
