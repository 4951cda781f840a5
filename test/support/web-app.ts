// The service zero-downtime tests deploy: one Node image whose behaviour each deploy picks with
// environment variables (release label, failing health or paths, a peer to call, slow answers,
// a WebSocket echo, graceful shutdown), plus its pre-deploy (`migrate`), smoke-test (`smoke`)
// and container health (`check`) commands. server.js is plain JavaScript with no packages, since
// the image has none; its WebSocket is a small hand-written RFC 6455 server. Its source avoids
// template literals so it can live in a String.raw here.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { freePort } from './proxy.ts';
import { followProgress } from '../../src/docker/connect.ts';
import { ensureNodeImage, NODE_IMAGE } from '../../src/images/base.ts';

export interface WebAppOptions {
  /** Adds a Docker HEALTHCHECK running `server.js check` (GET /healthz on localhost). */
  healthcheck?: { interval?: string; retries?: number };
  /** Bakes RELEASE into the image; a deploy's variables still override it. */
  release?: string;
}

export function webAppFiles(options: WebAppOptions = {}): { Dockerfile: string; 'server.js': string } {
  const lines = [`FROM ${NODE_IMAGE}`, 'COPY server.js /app/server.js'];
  if (options.release !== undefined) lines.push(`ENV RELEASE=${JSON.stringify(options.release)}`);
  lines.push('EXPOSE 3000');
  if (options.healthcheck) {
    const { interval = '1s', retries = 3 } = options.healthcheck;
    lines.push(`HEALTHCHECK --interval=${interval} --timeout=2s --retries=${retries} CMD ["node", "/app/server.js", "check"]`);
  }
  lines.push('CMD ["node", "/app/server.js"]', '');
  return { Dockerfile: lines.join('\n'), 'server.js': SERVER_JS };
}

/** Builds the web app into the local engine as `tag` (not pushed), building the Node base image first if needed. */
export async function buildWebApp(docker: Docker, tag: string, options: WebAppOptions = {}): Promise<string> {
  await ensureNodeImage(docker);
  const context = mkdtempSync(join(tmpdir(), 'slipway-web-app-'));
  try {
    for (const [name, text] of Object.entries(webAppFiles(options))) writeFileSync(join(context, name), text);
    // tar-fs streams are streamx streams; dockerode only reads them.
    const stream = await docker.buildImage(tar.pack(context) as unknown as NodeJS.ReadableStream, { t: tag, forcerm: true });
    await followProgress(docker, stream);
    return tag;
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

export interface WebAppProcess {
  port: number;
  url: string;
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  /** SIGTERM (a graceful shutdown), then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, for cleanup. */
  kill(): Promise<void>;
}

/** Runs server.js with this host's node on `port` (a free one by default); resolves once it listens. */
export async function startWebAppProcess(env: Record<string, string> = {}, port?: number): Promise<WebAppProcess> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'slipway-web-app-'));
  writeFileSync(join(dir, 'server.js'), SERVER_JS);
  const child = spawn(process.execPath, [join(dir, 'server.js')], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(chosen) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      rmSync(dir, { recursive: true, force: true });
      resolve(code);
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(' listening on ')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`web app exited with ${code} before listening: ${output}`)));
  });
  return {
    port: chosen,
    url: `http://127.0.0.1:${chosen}`,
    child,
    output: () => output,
    exited,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const SERVER_JS = String.raw`'use strict';
// A test service; environment variables choose its behaviour (see test/support/web-app.ts).
const http = require('node:http');
const { createHash } = require('node:crypto');

const env = process.env;
const PORT = Number(env.PORT || 3000);
const RELEASE = env.RELEASE || 'unknown';
const STARTED = Date.now();
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 1 << 20;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function get(url, agent, retry) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: agent, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (error) => {
      // A kept-alive socket the other side closed just as it was reused: Node's documented retry.
      if (retry && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) resolve(get(url, agent, false));
      else reject(error);
    });
  });
}

async function smoke(base) {
  if (!base) { console.error('usage: server.js smoke <url>'); process.exitCode = 2; return; }
  base = base.replace(/\/+$/, '');
  for (const path of ['/', '/orders']) {
    let answer;
    try {
      answer = await get(base + path, false, false);
    } catch (error) {
      console.error('smoke: GET ' + base + path + ' failed: ' + error.message);
      process.exitCode = 1;
      return;
    }
    if (answer.status < 200 || answer.status > 299) {
      console.error('smoke: GET ' + base + path + ' answered ' + answer.status + ': ' + answer.body.slice(0, 200));
      process.exitCode = 1;
      return;
    }
    console.log('smoke: GET ' + base + path + ' answered ' + answer.status);
  }
}

function frame(opcode, payload) {
  const length = payload.length;
  const head = Buffer.alloc(length < 126 ? 2 : length < 65536 ? 4 : 10);
  head[0] = 0x80 | opcode;
  if (length < 126) head[1] = length;
  else if (length < 65536) { head[1] = 126; head.writeUInt16BE(length, 2); }
  else { head[1] = 127; head.writeBigUInt64BE(BigInt(length), 2); }
  return Buffer.concat([head, payload]);
}

function closeFrame(code, reason) {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return frame(0x8, payload);
}

/** One WebSocket connection: echoes text messages as RELEASE:message. */
function webSocket(socket, head, onClosed) {
  let buffer = head;
  let message = null;
  let closeSent = false;
  const close = (code, reason) => {
    if (closeSent) return;
    closeSent = true;
    socket.write(closeFrame(code, reason));
    // The client answers with its own close frame; one that never does is cut off.
    const timer = setTimeout(() => socket.destroy(), 2000);
    socket.once('close', () => clearTimeout(timer));
  };
  const fail = (code, reason) => { close(code, reason); socket.end(); return false; };
  const handle = (fin, opcode, payload) => {
    if (opcode >= 0x8) {
      if (!fin || payload.length > 125) return fail(1002, 'bad control frame');
      if (opcode === 0x8) {
        if (!closeSent) { closeSent = true; socket.write(frame(0x8, payload.subarray(0, 2))); }
        socket.end();
        return false;
      }
      if (opcode === 0x9 && !closeSent) socket.write(frame(0xa, payload));
      return opcode === 0x9 || opcode === 0xa || fail(1002, 'unknown opcode');
    }
    if (opcode === 0x1 || opcode === 0x2) {
      if (message) return fail(1002, 'expected a continuation frame');
      message = { opcode: opcode, parts: [], size: 0 };
    } else if (opcode !== 0x0 || !message) return fail(1002, 'unexpected frame');
    message.parts.push(payload);
    message.size += payload.length;
    if (message.size > MAX_MESSAGE) return fail(1009, 'message too big');
    if (!fin) return true;
    const whole = Buffer.concat(message.parts);
    const kind = message.opcode;
    message = null;
    if (kind === 0x2) return fail(1003, 'text messages only');
    let text;
    try { text = utf8.decode(whole); } catch { return fail(1007, 'invalid UTF-8'); }
    if (!closeSent) socket.write(frame(0x1, Buffer.from(RELEASE + ':' + text)));
    return true;
  };
  const parse = () => {
    while (buffer.length >= 2) {
      const fin = (buffer[0] & 0x80) !== 0;
      const opcode = buffer[0] & 0x0f;
      if (buffer[0] & 0x70) return fail(1002, 'no extension was negotiated');
      if (!(buffer[1] & 0x80)) return fail(1002, 'client frames must be masked');
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        const big = buffer.readBigUInt64BE(2);
        if (big > BigInt(MAX_MESSAGE)) return fail(1009, 'message too big');
        length = Number(big);
        offset = 10;
      }
      if (length > MAX_MESSAGE) return fail(1009, 'message too big');
      if (buffer.length < offset + 4 + length) return;
      const mask = buffer.subarray(offset, offset + 4);
      const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
      for (let i = 0; i < length; i++) payload[i] ^= mask[i & 3];
      buffer = buffer.subarray(offset + 4 + length);
      if (!handle(fin, opcode, payload)) return;
    }
  };
  socket.setNoDelay(true);
  socket.on('data', (chunk) => { buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk; parse(); });
  socket.on('error', () => socket.destroy());
  socket.on('close', onClosed);
  parse();
  return { goingAway: () => close(1001, 'going away') };
}

function serve() {
  const SERVICE = env.SERVICE || 'unknown';
  const ENVIRONMENT = env.ENVIRONMENT || 'unknown';
  const peerAgent = new http.Agent({ keepAlive: true });
  const webSockets = new Set();
  let draining = false;
  let serverClosed = false;

  const send = (res, status, body) => {
    const text = JSON.stringify(body);
    // Once draining, each answer ends its connection, so in-flight keep-alive sockets close too.
    if (draining) res.setHeader('Connection', 'close');
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const healthy = () => {
    const age = Date.now() - STARTED;
    if (draining || env.FAIL_HEALTH === '1') return false;
    if (env.HEALTHY_AFTER_MS && age < Number(env.HEALTHY_AFTER_MS)) return false;
    return !(env.UNHEALTHY_AFTER_MS && age >= Number(env.UNHEALTHY_AFTER_MS));
  };
  const peer = async (res) => {
    if (!env.PEER) return send(res, 502, { release: RELEASE, error: 'PEER is not set' });
    let answer;
    try {
      const reply = await get('http://' + env.PEER + '/', peerAgent, true);
      if (reply.status < 200 || reply.status > 299) throw new Error('answered ' + reply.status + ': ' + reply.body.slice(0, 200));
      answer = { release: RELEASE, peer: JSON.parse(reply.body) };
    } catch (error) {
      return send(res, 502, { release: RELEASE, error: 'peer ' + env.PEER + ': ' + error.message });
    }
    send(res, 200, answer);
  };

  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL('http://localhost' + req.url);
    const path = url.pathname;
    if (env.FAIL_PATH && path === env.FAIL_PATH) return send(res, 500, { error: 'broken release' });
    if (path === '/') return send(res, 200, { service: SERVICE, release: RELEASE, environment: ENVIRONMENT });
    if (path === '/healthz') return send(res, healthy() ? 200 : 503, { release: RELEASE, healthy: healthy() });
    if (path === '/peer') return void peer(res);
    if (path === '/orders') {
      if (req.method === 'GET' || req.method === 'POST') return send(res, 200, { release: RELEASE, orders: [] });
      return send(res, 405, { error: 'GET or POST' });
    }
    if (path === '/slow') {
      const ms = Number(url.searchParams.get('ms')) || 0;
      return void setTimeout(() => send(res, 200, { release: RELEASE, sleptMs: ms }), ms);
    }
    send(res, 404, { error: 'not found' });
  });
  // Longer than a proxy's idle timeout, so the proxy, not the app, ends idle connections.
  server.keepAliveTimeout = 65000;
  server.headersTimeout = 66000;

  server.on('upgrade', (req, socket, head) => {
    const key = req.headers['sec-websocket-key'];
    if (draining || req.url.split('?')[0] !== '/ws' || String(req.headers.upgrade).toLowerCase() !== 'websocket' || !key) {
      socket.end('HTTP/1.1 ' + (draining ? '503 Service Unavailable' : '400 Bad Request') + '\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n\r\n');
    const ws = webSocket(socket, head, () => { webSockets.delete(ws); exitWhenDone(); });
    webSockets.add(ws);
  });

  const exitWhenDone = () => {
    if (!draining || !serverClosed || webSockets.size > 0) return;
    console.log(RELEASE + ' drained, exiting');
    process.exit(0);
  };
  const shutdown = (signal) => {
    if (draining) return;
    draining = true;
    console.log(RELEASE + ' got ' + signal + ', draining');
    server.close(() => { serverClosed = true; exitWhenDone(); });
    server.closeIdleConnections();
    for (const ws of webSockets) ws.goingAway();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  server.listen(PORT, () => console.log(SERVICE + ' ' + RELEASE + ' listening on ' + PORT));
}

const mode = process.argv[2];
if (mode === 'migrate') {
  console.log('migrating to ' + RELEASE);
  process.exitCode = Number(env.MIGRATE_EXIT || 0);
} else if (mode === 'smoke') {
  void smoke(process.argv[3]);
} else if (mode === 'check') {
  get('http://127.0.0.1:' + PORT + '/healthz', false, false).then((answer) => process.exit(answer.status === 200 ? 0 : 1), () => process.exit(1));
} else {
  serve();
}
`;
