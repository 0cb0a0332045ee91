import { vi } from 'vitest';
import type { EventRecord } from '../api/types';

export function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export function errorResponse(status: number, code: string, message = code): Response {
  return jsonResponse(status, { error: { code, message } });
}

type Handler = (url: URL, init: RequestInit | undefined) => Response | Promise<Response>;

/**
 * A fetch double that routes by path (`/v1/events`, `/v1/stats`, `/health`) and records calls.
 * Unrouted paths answer 404 in the API's error shape.
 */
export function fakeFetch(routes: Record<string, Handler>) {
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://dashboard.test');
    const handler = routes[url.pathname];
    if (!handler) return errorResponse(404, 'not_found', `no route for ${url.pathname}`);
    return handler(url, init);
  });
  return fn as typeof fn & typeof fetch;
}

function b64url(value: string): string {
  const bytes = new TextEncoder().encode(value);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A JWT-shaped token (unsigned: only the backend verifies signatures). */
export function makeJwt(claims: Record<string, unknown>): string {
  return `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.c2lnbmF0dXJl`;
}

export const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;

export function makeEvent(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    id: 'evt_1',
    name: 'signup',
    timestamp: '2024-05-01T12:00:00Z',
    user_id: 'user_1',
    properties: { plan: 'pro' },
    received_at: '2024-05-01T12:00:01Z',
    ...overrides,
  };
}
