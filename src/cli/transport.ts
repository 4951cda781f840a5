// The CLI's way to send the client's requests: node:http, already loaded with Node, where fetch
// first loads undici and compiles its WebAssembly parser (about 0.1 s of every command). Live
// events still stream through fetch (client.events).

import { request as httpRequest } from 'node:http';
import type { Transport } from '../client/client.ts';

export const nodeHttpTransport: Transport = async (url, init) => {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  const headers = init.body === undefined ? init.headers : { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) };
  return new Promise((resolve, reject) => {
    const request = send(target, { method: init.method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(init.body);
  });
};
