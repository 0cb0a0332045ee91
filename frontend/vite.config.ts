/// <reference types="vitest/config" />
import { readFileSync } from 'node:fs';
import { defineConfig } from 'vite';
import type { ProxyOptions } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * When EVENTFLOW_API_PROXY is set (e.g. http://127.0.0.1:8080), the dev server and
 * `vite preview` forward the backend's paths to it, so the dashboard and the API share
 * one origin exactly as they do behind the production load balancer.
 */
function apiProxy(): Record<string, ProxyOptions> | undefined {
  const target = process.env.EVENTFLOW_API_PROXY?.trim();
  if (!target) return undefined;
  const options: ProxyOptions = { target, changeOrigin: true, xfwd: true };
  return { '/v1': options, '/health': options };
}

/**
 * The production nginx's security headers (`nginx/security-headers.conf`), so `vite preview`,
 * which the browser test drives, serves the dashboard under the same Content-Security-Policy.
 * The API origin is empty: the preview proxies the API on its own origin.
 */
function securityHeaders(): Record<string, string> {
  const conf = readFileSync(new URL('./nginx/security-headers.conf', import.meta.url), 'utf8');
  const headers: Record<string, string> = {};
  for (const match of conf.matchAll(/^add_header\s+(\S+)\s+"([^"]*)"\s+always;$/gm)) {
    const [, name, value] = match as unknown as [string, string, string];
    headers[name] = value.replace('$eventflow_api_origin', '');
  }
  if (!headers['Content-Security-Policy']) throw new Error('nginx/security-headers.conf sets no Content-Security-Policy: restore it');
  return headers;
}

export default defineConfig({
  // Relative asset URLs: the bundle works wherever index.html is served from.
  base: './',
  plugins: [react()],
  server: { host: '127.0.0.1', proxy: apiProxy() },
  preview: { host: '127.0.0.1', proxy: apiProxy(), headers: securityHeaders() },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['./src/test/setup.ts'],
    restoreMocks: true,
    // The pipeline runs these beside Rust builds on small CI machines: a deadline is a hang
    // detector, not a speed assertion.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    coverage: {
      provider: 'v8',
      reporter: ['text-summary', 'lcov'],
      reportsDirectory: 'coverage',
      include: ['src/**/*.{ts,tsx}'],
      exclude: ['src/**/*.test.{ts,tsx}', 'src/test/**', 'src/main.tsx'],
    },
  },
});
