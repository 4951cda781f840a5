// Builds the dashboard into dist/dashboard, which the Slipway server serves from its own port
// (src/server/dashboard.ts). `npm run dashboard:dev` serves it with hot reload, the API proxied
// to a running `slipway up` (SLIPWAY_URL, default http://127.0.0.1:7420).
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // The charts live on the metrics page only; everything else loads at once.
    chunkSizeWarningLimit: 800,
    // On a busy machine Rolldown warns that plugins took a while: noise in npm install's output.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  server: {
    proxy: { '/api': process.env.SLIPWAY_URL ?? 'http://127.0.0.1:7420' },
  },
});
