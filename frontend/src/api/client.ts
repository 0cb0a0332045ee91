import type { EventPage, EventQuery, Health, Stats, StatsQuery } from './types';

/** Error codes the dashboard reacts to; the backend may send others. */
export type KnownErrorCode =
  | 'token_expired'
  | 'unauthorized'
  | 'network_error'
  | 'invalid_response'
  | 'not_signed_in';

/** An API failure, carrying the backend's `{"error":{"code","message"}}` when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: KnownErrorCode | string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** The token is missing, wrong or expired: the user has to sign in again. */
  get isAuth(): boolean {
    return this.status === 401 || this.code === 'not_signed_in';
  }

  get isExpired(): boolean {
    return this.code === 'token_expired';
  }
}

/** RFC 3339 in UTC without fractional seconds, e.g. `2024-05-01T12:00:00Z`. */
export function toRfc3339(value: Date | string): string {
  if (typeof value === 'string') return value;
  return value.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

type QueryValue = string | number | Date | null | undefined;

/** `?a=1&b=x` from the defined, non-empty values, in the order given; "" when none. */
export function buildQuery(params: Record<string, QueryValue>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    const text = value instanceof Date ? toRfc3339(value) : String(value).trim();
    if (text === '') continue;
    search.append(key, text);
  }
  const query = search.toString();
  return query ? `?${query}` : '';
}

function isErrorBody(body: unknown): body is { error: { code: string; message: string } } {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = (body as { error: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** Turn a non-2xx response into an ApiError, keeping the backend's code when present. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = undefined;
  try {
    body = await response.json();
  } catch (cause) {
    // Cancelled while the body was read (the view went away): not an answer from the API. Read
    // as a bare 401 it would sign the user out again with the wrong reason.
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    // Not JSON (e.g. a proxy's HTML error page): fall back to the status.
  }
  if (isErrorBody(body)) {
    return new ApiError(response.status, body.error.code, body.error.message);
  }
  const code = response.status === 401 ? 'unauthorized' : `http_${response.status}`;
  const text = response.statusText ? `${response.status} ${response.statusText}` : `HTTP ${response.status}`;
  return new ApiError(response.status, code, `The server answered ${text}.`);
}

export interface ApiClientOptions {
  baseUrl: string;
  /** The current JWT, read on every request. */
  getToken?: () => string | null;
  fetch?: typeof fetch;
  /** Called when an authenticated request is answered 401 (wrong or expired token). */
  onAuthError?: (error: ApiError) => void;
}

export class ApiClient {
  private readonly baseUrl: string;
  private readonly getToken: () => string | null;
  private readonly fetchFn: typeof fetch;
  private readonly onAuthError?: (error: ApiError) => void;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.getToken = options.getToken ?? (() => null);
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.onAuthError = options.onAuthError;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private async request<T>(path: string, init: { auth: boolean; signal?: AbortSignal }): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (init.auth) {
      const token = this.getToken();
      if (!token) throw new ApiError(401, 'not_signed_in', 'Sign in with a token first.');
      headers.Authorization = `Bearer ${token}`;
    }
    let response: Response;
    try {
      response = await this.fetchFn(this.url(path), { headers, signal: init.signal });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
      throw new ApiError(0, 'network_error', 'Could not reach the EventFlow API. Check your connection and try again.');
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      if (init.auth && error.status === 401) this.onAuthError?.(error);
      throw error;
    }
    try {
      return (await response.json()) as T;
    } catch {
      throw new ApiError(response.status, 'invalid_response', 'The server sent a response that is not valid JSON.');
    }
  }

  /** The newest events first; pass `next_cursor` back as `cursor` for the next page. */
  listEvents(query: EventQuery = {}, signal?: AbortSignal): Promise<EventPage> {
    const qs = buildQuery({
      name: query.name,
      from: query.from,
      to: query.to,
      limit: query.limit,
      cursor: query.cursor,
    });
    return this.request<EventPage>(`/v1/events${qs}`, { auth: true, signal });
  }

  getStats(query: StatsQuery = {}, signal?: AbortSignal): Promise<Stats> {
    const qs = buildQuery({ from: query.from, to: query.to, bucket: query.bucket });
    return this.request<Stats>(`/v1/stats${qs}`, { auth: true, signal });
  }

  /**
   * The backend's health. A 503 still carries a health body (status "unavailable"),
   * which is returned rather than thrown so the badge can show the version.
   */
  async health(signal?: AbortSignal): Promise<Health> {
    let response: Response;
    try {
      response = await this.fetchFn(this.url('/health'), { headers: { Accept: 'application/json' }, signal });
    } catch (cause) {
      if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
      throw new ApiError(0, 'network_error', 'Could not reach the EventFlow API.');
    }
    if (response.ok || response.status === 503) {
      try {
        const body = (await response.json()) as Health;
        if (body && typeof body.status === 'string') return body;
      } catch {
        // fall through
      }
      if (response.ok) throw new ApiError(response.status, 'invalid_response', 'The health check sent an unexpected body.');
    }
    throw await errorFromResponse(response);
  }
}

/** The message a person sees for an error, worded for the dashboard. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'token_expired') return 'Your token has expired. Paste a fresh token to sign in again.';
    if (error.code === 'not_signed_in') return 'Sign in with a token first.';
    if (error.status === 401) return 'This token was not accepted. Check that you copied the whole token and that it was issued for this EventFlow deployment.';
    if (error.status === 403) return 'Your token does not allow this action.';
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}
