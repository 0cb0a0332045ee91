import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, buildQuery, describeError, errorFromResponse, toRfc3339 } from './client';
import { errorResponse, fakeFetch, jsonResponse } from '../test/helpers';

describe('buildQuery', () => {
  it('keeps defined values in order and drops empty ones', () => {
    expect(buildQuery({ name: 'signup', from: undefined, to: null, limit: 50, cursor: '' })).toBe('?name=signup&limit=50');
  });

  it('returns an empty string when nothing is set', () => {
    expect(buildQuery({ a: undefined, b: '  ' })).toBe('');
  });

  it('formats dates as RFC 3339 UTC without milliseconds and encodes them', () => {
    const qs = buildQuery({ from: new Date(Date.UTC(2024, 4, 1, 12, 30, 15, 123)) });
    expect(qs).toBe('?from=2024-05-01T12%3A30%3A15Z');
  });

  it('escapes reserved characters, including the + of a time-zone offset', () => {
    expect(buildQuery({ name: 'a&b=c d', to: '2024-05-01T12:00:00+02:00' })).toBe(
      '?name=a%26b%3Dc+d&to=2024-05-01T12%3A00%3A00%2B02%3A00',
    );
  });
});

describe('toRfc3339', () => {
  it('passes strings through', () => {
    expect(toRfc3339('2024-01-01T00:00:00Z')).toBe('2024-01-01T00:00:00Z');
  });
  it('drops milliseconds from dates', () => {
    expect(toRfc3339(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 999)))).toBe('2024-01-02T03:04:05Z');
  });
});

describe('errorFromResponse', () => {
  it('keeps the code and message of the API error body', async () => {
    const error = await errorFromResponse(errorResponse(400, 'invalid_query', 'limit must be at most 1000'));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_query');
    expect(error.message).toBe('limit must be at most 1000');
  });

  it('falls back to the status when the body is not the API shape', async () => {
    const error = await errorFromResponse(new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(error.code).toBe('http_502');
    expect(error.message).toBe('The server answered 502 Bad Gateway.');
  });

  it('treats a bodiless 401 as unauthorized', async () => {
    const error = await errorFromResponse(new Response(null, { status: 401 }));
    expect(error.code).toBe('unauthorized');
    expect(error.isAuth).toBe(true);
    expect(error.isExpired).toBe(false);
  });
});

describe('ApiClient', () => {
  it('sends the bearer token and builds the events URL from the base URL', async () => {
    const fetch = fakeFetch({ '/v1/events': () => jsonResponse(200, { events: [], next_cursor: null }) });
    const api = new ApiClient({ baseUrl: 'https://api.example.test/', getToken: () => 'tok', fetch });

    await api.listEvents({ name: 'signup', limit: 10, cursor: 'abc' });

    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('https://api.example.test/v1/events?name=signup&limit=10&cursor=abc');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer tok');
  });

  it('uses same-origin paths when the base URL is empty', async () => {
    const fetch = fakeFetch({ '/v1/stats': () => jsonResponse(200, { bucket: 'hour', buckets: [] }) });
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch });
    const from = new Date(Date.UTC(2024, 0, 1));
    const to = new Date(Date.UTC(2024, 0, 2));

    const stats = await api.getStats({ from, to, bucket: 'hour' });

    expect(stats.bucket).toBe('hour');
    expect(fetch.mock.calls[0]![0]).toBe('/v1/stats?from=2024-01-01T00%3A00%3A00Z&to=2024-01-02T00%3A00%3A00Z&bucket=hour');
  });

  it('follows next_cursor from one page to the next', async () => {
    const pages: Record<string, unknown> = {
      '': { events: [{ id: '3' }, { id: '2' }], next_cursor: 'c2' },
      c2: { events: [{ id: '1' }], next_cursor: null },
    };
    const fetch = fakeFetch({ '/v1/events': (url) => jsonResponse(200, pages[url.searchParams.get('cursor') ?? '']) });
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch });

    const first = await api.listEvents({ limit: 2 });
    const second = await api.listEvents({ limit: 2, cursor: first.next_cursor });

    expect(first.events.map((e) => e.id)).toEqual(['3', '2']);
    expect(second.events.map((e) => e.id)).toEqual(['1']);
    expect(second.next_cursor).toBeNull();
    expect(String(fetch.mock.calls[1]![0])).toContain('cursor=c2');
    expect(String(fetch.mock.calls[0]![0])).not.toContain('cursor=');
  });

  it('maps 401 token_expired and unauthorized to distinct errors and reports them', async () => {
    const onAuthError = vi.fn();
    let code = 'token_expired';
    const fetch = fakeFetch({ '/v1/events': () => errorResponse(401, code, 'nope') });
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch, onAuthError });

    const expired = await api.listEvents().catch((e: unknown) => e);
    code = 'unauthorized';
    const wrong = await api.listEvents().catch((e: unknown) => e);

    expect(expired).toBeInstanceOf(ApiError);
    expect((expired as ApiError).isExpired).toBe(true);
    expect((wrong as ApiError).isExpired).toBe(false);
    expect((wrong as ApiError).isAuth).toBe(true);
    expect(onAuthError).toHaveBeenCalledTimes(2);
    expect(onAuthError.mock.calls[0]![0].code).toBe('token_expired');
    expect(describeError(expired)).toMatch(/expired/);
    expect(describeError(wrong)).toMatch(/not accepted/);
  });

  it('does not read a 401 cancelled mid-body as a refused token', async () => {
    // Two panels fail with token_expired; the first signs the user out, which cancels the
    // second while its body is still being read.
    const onAuthError = vi.fn();
    const cancelled = new Response('{}', { status: 401 });
    cancelled.json = () => Promise.reject(new DOMException('The operation was aborted.', 'AbortError'));
    const fetch = fakeFetch({ '/v1/events': () => cancelled });
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch, onAuthError });

    await expect(api.listEvents()).rejects.toMatchObject({ name: 'AbortError' });
    expect(onAuthError).not.toHaveBeenCalled();
  });

  it('does not report non-auth errors as auth errors', async () => {
    const onAuthError = vi.fn();
    const fetch = fakeFetch({ '/v1/events': () => errorResponse(500, 'internal', 'database unavailable') });
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch, onAuthError });

    await expect(api.listEvents()).rejects.toMatchObject({ status: 500, code: 'internal', message: 'database unavailable' });
    expect(onAuthError).not.toHaveBeenCalled();
  });

  it('refuses authenticated calls without a token, without touching the network', async () => {
    const fetch = fakeFetch({});
    const api = new ApiClient({ baseUrl: '', fetch });

    await expect(api.listEvents()).rejects.toMatchObject({ code: 'not_signed_in' });
    expect(fetch).not.toHaveBeenCalled();
  });

  it('turns a network failure into a network_error', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof globalThis.fetch;
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch });

    await expect(api.listEvents()).rejects.toMatchObject({ status: 0, code: 'network_error' });
  });

  it('reports a 2xx body that is not JSON', async () => {
    const fetch = fakeFetch({ '/v1/events': () => new Response('<html></html>', { status: 200 }) });
    const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch });

    await expect(api.listEvents()).rejects.toMatchObject({ code: 'invalid_response' });
  });

  it('returns the health body on 200 and on 503, without a token', async () => {
    let status = 200;
    const fetch = fakeFetch({
      '/health': () =>
        jsonResponse(status, {
          status: status === 200 ? 'ok' : 'unavailable',
          version: '0.1.0',
          git_sha: 'abc1234def',
          database: status === 200 ? 'ok' : 'unavailable',
          migration_version: 3,
        }),
    });
    const api = new ApiClient({ baseUrl: '', fetch });

    const ok = await api.health();
    status = 503;
    const down = await api.health();

    expect(ok).toMatchObject({ status: 'ok', git_sha: 'abc1234def', migration_version: 3 });
    expect(down.status).toBe('unavailable');
    const headers = fetch.mock.calls[0]![1]?.headers as Record<string, string>;
    expect(headers.Authorization).toBeUndefined();
  });

  it('throws for other health failures', async () => {
    const fetch = fakeFetch({ '/health': () => new Response('gateway timeout', { status: 504 }) });
    const api = new ApiClient({ baseUrl: '', fetch });

    await expect(api.health()).rejects.toMatchObject({ code: 'http_504' });
  });
});

describe('describeError', () => {
  it('words the common cases for people', () => {
    expect(describeError(new ApiError(403, 'forbidden', 'x'))).toMatch(/does not allow/);
    expect(describeError(new ApiError(0, 'network_error', 'Could not reach the EventFlow API.'))).toBe(
      'Could not reach the EventFlow API.',
    );
    expect(describeError(new Error('boom'))).toBe('boom');
    expect(describeError('weird')).toBe('Something went wrong.');
  });
});
