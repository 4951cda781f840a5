// The benchmark's upstreams and clients: HTTP that answers its name, and a small WebSocket echo and probe.

import { createHash, randomBytes } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROBE_EVERY_MS, REQUEST_TIMEOUT_MS } from './model.ts';

export interface Upstream {
  name: string;
  port: number;
  close(): Promise<void>;
}

export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** An HTTP server that answers its name (after `?hold=N` ms), `/healthz`, and a WebSocket that echoes `<name> <message>`. */
export async function startUpstream(name: string): Promise<Upstream> {
  const upgraded = new Set<Duplex>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/healthz') {
      res.end('ok');
      return;
    }
    const answer = () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(name);
    };
    const hold = Number(url.searchParams.get('hold') ?? 0);
    if (hold > 0) {
      const timer = setTimeout(answer, hold);
      res.on('close', () => clearTimeout(timer));
    } else answer();
  });
  // Longer than a run: the upstream itself never ends an idle keep-alive connection here.
  server.keepAliveTimeout = 120_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const key = req.headers['sec-websocket-key'];
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.destroy();
      return;
    }
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('error', () => undefined);
    const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const reader = new FrameReader((opcode, payload) => {
      if (opcode === 0x1) socket.write(frame(0x1, Buffer.from(`${name} ${payload.toString()}`), false));
      else if (opcode === 0x9) socket.write(frame(0xa, payload, false));
      else if (opcode === 0x8) socket.end(frame(0x8, Buffer.alloc(0), false));
    });
    if (head.length > 0) reader.push(head);
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of upgraded) socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export type Reply = { ok: true; upstream: string } | { ok: false; reason: string };

/** One GET; never throws: a failure is a reason (the status, the error code, or "timeout"; and whether the connection was a reused one). */
export function get(agent: Agent, port: number, path: string, onSocket?: (socket: Socket) => void): Promise<Reply> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? { ok: true, upstream: body } : { ok: false, reason: `HTTP ${res.statusCode}` }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, reason: error.code ?? error.message }));
    });
    if (onSocket) req.on('socket', onSocket);
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    // A request on a kept-alive connection that the proxy closed is what clients retry (when it is idempotent).
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, reason: `${error.code ?? error.message}${req.reusedSocket ? ' on a reused connection' : ''}` }));
    req.end();
  });
}

/** A WebSocket client that sends a message every 100 ms, counts echoes, and reconnects when the other side closes. */
export class WebSocketProbe {
  sent = 0;
  answered = 0;
  drops: number[] = [];
  reconnectFailures = 0;
  upstreams: string[] = [];
  private socket: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly port: number) {}

  async start(): Promise<void> {
    await this.connect();
    this.timer = setInterval(() => {
      if (!this.socket || this.socket.destroyed) return;
      this.sent++;
      this.socket.write(frame(0x1, Buffer.from(String(this.sent)), true));
    }, PROBE_EVERY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.socket?.destroy();
  }

  private async connect(): Promise<void> {
    const socket = await openWebSocket(this.port, (payload) => {
      this.answered++;
      const upstream = payload.toString().split(' ')[0] ?? '?';
      if (this.upstreams.at(-1) !== upstream) this.upstreams.push(upstream);
    });
    this.socket = socket;
    socket.on('close', () => {
      if (this.stopped || this.socket !== socket) return;
      this.drops.push(performance.now());
      this.socket = null;
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.connect();
        return;
      } catch {
        this.reconnectFailures++;
        await sleep(50);
      }
    }
  }
}

/** Opens a WebSocket (`GET /ws` with Upgrade) on 127.0.0.1:port; text frames received go to `onText`. */
export function openWebSocket(port: number, onText: (payload: Buffer) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const expected = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    const socket = connect({ host: '127.0.0.1', port });
    let head: Buffer = Buffer.alloc(0);
    let open = false;
    const reader = new FrameReader((opcode, payload) => {
      if (opcode === 0x1) onText(payload);
      else if (opcode === 0x8) socket.end();
    });
    const timer = setTimeout(() => socket.destroy(new Error('WebSocket handshake timed out')), REQUEST_TIMEOUT_MS);
    socket.on('connect', () =>
      socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    socket.on('data', (chunk: Buffer) => {
      if (open) {
        reader.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const response = head.subarray(0, end).toString();
      clearTimeout(timer);
      if (!/^HTTP\/1\.1 101/.test(response) || !response.toLowerCase().includes(`sec-websocket-accept: ${expected.toLowerCase()}`)) {
        socket.destroy();
        reject(new Error(`WebSocket handshake refused: ${response.split('\r\n')[0]}`));
        return;
      }
      open = true;
      resolve(socket);
      const rest = head.subarray(end + 4);
      if (rest.length > 0) reader.push(rest);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (!open) reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!open) reject(new Error('WebSocket closed during the handshake'));
    });
  });
}

/** One unfragmented WebSocket frame; clients mask, servers do not. */
export function frame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length = payload.length;
  const maskBit = masked ? 0x80 : 0;
  const header = length < 126 ? Buffer.from([0x80 | opcode, maskBit | length]) : Buffer.from([0x80 | opcode, maskBit | 126, length >> 8, length & 0xff]);
  if (length >= 65536) throw new Error('frame too long for this benchmark');
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}

/** Splits a byte stream into WebSocket frames (opcode, unmasked payload); enough for small unfragmented frames. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (opcode: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const first = this.buffer[0]!;
      const second = this.buffer[1]!;
      let length = second & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (second & 0x80) !== 0;
      const maskAt = offset;
      if (masked) offset += 4;
      if (this.buffer.length < offset + length) return;
      const payload = Buffer.from(this.buffer.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < length; i++) payload[i] = payload[i]! ^ this.buffer[maskAt + (i % 4)]!;
      this.buffer = this.buffer.subarray(offset + length);
      this.onFrame(first & 0x0f, payload);
    }
  }
}

