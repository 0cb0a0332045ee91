/** The signed-in token lives in sessionStorage: it is gone when the tab closes. */
const TOKEN_KEY = 'eventflow.token';

export interface TokenClaims {
  sub?: string;
  exp?: number;
  role?: string;
}

export function loadToken(storage: Storage = sessionStorage): string | null {
  try {
    return storage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string, storage: Storage = sessionStorage): void {
  storage.setItem(TOKEN_KEY, token);
}

export function clearToken(storage: Storage = sessionStorage): void {
  storage.removeItem(TOKEN_KEY);
}

/** Strip whitespace, a pasted `Bearer ` prefix and surrounding quotes. */
export function cleanToken(input: string): string {
  return input
    .trim()
    .replace(/^bearer\s+/i, '')
    .replace(/^["']|["']$/g, '')
    .replace(/\s+/g, '');
}

function base64UrlDecode(segment: string): string {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * The token's claims, read without verifying the signature (only the backend can):
 * used to show who is signed in.
 * Returns null when the text is not shaped like a JWT.
 */
export function decodeClaims(token: string): TokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => p === '')) return null;
  try {
    const payload: unknown = JSON.parse(base64UrlDecode(parts[1] as string));
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return null;
    const claims = payload as Record<string, unknown>;
    return {
      sub: typeof claims.sub === 'string' ? claims.sub : undefined,
      exp: typeof claims.exp === 'number' ? claims.exp : undefined,
      role: typeof claims.role === 'string' ? claims.role : undefined,
    };
  } catch {
    return null;
  }
}
