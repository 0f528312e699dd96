import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers';
import Components from 'unplugin-vue-components/vite';
import { defaultClientConditions, defineConfig } from 'vite';

// The console is served by the master from its public/ folder; it is a build output, never committed.
const outDir = fileURLToPath(new URL('../master/public', import.meta.url));

export default defineConfig({
  plugins: [
    vue(),
    // Element Plus on demand: only the components the templates use, each with its own CSS.
    Components({ resolvers: [ElementPlusResolver({ importStyle: 'css' })], dts: false, dirs: [] }),
  ],
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: {
    outDir,
    emptyOutDir: true,
    // Modules run in the order main.ts imports them, whatever chunk they land in: zod-jitless.ts
    // must configure zod before @edgestelle/protocol builds its schemas (see that file).
    rolldownOptions: { output: { strictExecutionOrder: true } },
  },
  server: {
    proxy: { '/api': { target: process.env.EDGESTELLE_MASTER_URL ?? 'http://127.0.0.1:8080', ws: true } },
  },
});
