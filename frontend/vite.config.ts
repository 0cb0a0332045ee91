/// <reference types="vitest/config" />
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

export default defineConfig({
  // Relative asset URLs: the bundle works wherever index.html is served from.
  base: './',
  plugins: [react()],
  server: { host: '127.0.0.1', proxy: apiProxy() },
  preview: { host: '127.0.0.1', proxy: apiProxy() },
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
