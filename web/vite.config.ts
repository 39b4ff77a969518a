import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

// The pages are served by the gateway under /app/ (gateway/web.go); `make generate`
// builds them into dist/, which the gateway embeds (web.go). The SDK is compiled in from
// its TypeScript sources.
export default defineConfig({
  base: "/app/",
  resolve: {
    alias: {
      "@waybill/sdk": fileURLToPath(new URL("../sdk/typescript/src/index.ts", import.meta.url)),
    },
  },
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    reportCompressedSize: false,
  },
  logLevel: "warn",
});
