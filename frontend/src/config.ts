/**
 * Where the dashboard finds the EventFlow API.
 *
 * Order of precedence:
 * 1. run time: `window.EVENTFLOW_CONFIG.apiBaseUrl`, set by `config.js` served next to
 *    index.html (the container can rewrite that file at start-up);
 * 2. build time: `VITE_API_BASE_URL`;
 * 3. same origin (""), which is how production serves it behind the load balancer.
 */
export interface RuntimeConfig {
  apiBaseUrl?: string;
}

declare global {
  interface Window {
    EVENTFLOW_CONFIG?: RuntimeConfig;
  }
}

export function normalizeBaseUrl(url: string | undefined | null): string {
  if (!url) return '';
  return url.trim().replace(/\/+$/, '');
}

export function resolveApiBaseUrl(
  runtime: RuntimeConfig | undefined,
  buildTime: string | undefined,
): string {
  if (runtime && typeof runtime.apiBaseUrl === 'string' && runtime.apiBaseUrl.trim() !== '') {
    return normalizeBaseUrl(runtime.apiBaseUrl);
  }
  return normalizeBaseUrl(buildTime);
}

export function apiBaseUrl(): string {
  const runtime = typeof window === 'undefined' ? undefined : window.EVENTFLOW_CONFIG;
  return resolveApiBaseUrl(runtime, import.meta.env.VITE_API_BASE_URL as string | undefined);
}
