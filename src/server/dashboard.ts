// The dashboard's files, built by Vite from dashboard/ into dist/dashboard (npm install builds
// it), served from the API's own port. Hashed assets are cached for good; every other path is
// the single page's index.html, which the browser's router reads. A strict content security
// policy: the page runs only its own scripts and talks only to this server.

import { serveStatic } from '@hono/node-server/serve-static';
import type { Hono, MiddlewareHandler } from 'hono';
import { compress } from 'hono/compress';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** dist/dashboard at the project's root, from src/server or dist/server alike. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url));

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Charts and virtual lists set element styles from script; style attributes need this.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.header('content-security-policy', CONTENT_SECURITY_POLICY);
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'no-referrer');
  c.header('x-frame-options', 'DENY');
};

/** Mounts the dashboard on every GET path the API, webhooks and health check leave free. */
export function mountDashboard(app: Hono, dir: string = DASHBOARD_DIR): void {
  if (!existsSync(`${dir}/index.html`)) {
    app.get('/', (c) =>
      c.text('The dashboard is not built. Run `npm install` (or `npm run build`) in the Slipway folder, then restart the server; the API is at /api.', 503),
    );
    return;
  }
  app.use('/assets/*', securityHeaders, compress(), async (c, next) => {
    await next();
    // Vite names each asset by a hash of its content.
    if (c.res.status === 200) c.header('cache-control', 'public, max-age=31536000, immutable');
  });
  app.get('/assets/*', serveStatic({ root: dir }));
  app.get('/favicon.svg', securityHeaders, serveStatic({ root: dir, path: 'favicon.svg' }));
  const page = serveStatic({ root: dir, path: 'index.html' });
  app.get('*', securityHeaders, compress(), async (c, next) => {
    // An unknown API path stays the API's 404, never the page.
    if (c.req.path === '/api' || c.req.path.startsWith('/api/')) return next();
    c.header('cache-control', 'no-cache');
    return page(c, next);
  });
}
