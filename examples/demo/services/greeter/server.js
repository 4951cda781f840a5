import { createServer } from 'node:http';
import { greet } from './greeting.js';

const port = Number(process.env.PORT ?? 3000);

createServer((request, response) => {
  const url = new URL(request.url, 'http://localhost');
  if (url.pathname === '/healthz') return response.end('ok\n');
  response.setHeader('content-type', 'text/plain');
  response.end(`${greet(url.searchParams.get('name'), process.env.GREETING)}\n`);
}).listen(port, () => console.log(`greeter listening on ${port}`));
