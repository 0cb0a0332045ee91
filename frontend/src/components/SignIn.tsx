import { useEffect, useRef, useState } from 'react';
import type { FormEvent } from 'react';
import { ApiClient, describeError } from '../api/client';
import { cleanToken, decodeClaims } from '../lib/session';

export interface SignInProps {
  baseUrl: string;
  /** Why the user is here again, e.g. their token expired mid-session. */
  notice?: string | null;
  onSignedIn: (token: string) => void;
  fetchFn?: typeof fetch;
}

/**
 * Paste a JWT; it is checked against the API (one `GET /v1/events?limit=1`) before it is kept,
 * so a wrong or expired token gets a clear message here rather than broken views later. Expiry
 * is judged by the backend (401 `token_expired`), not by this browser's clock.
 */
export function SignIn({ baseUrl, notice, onSignedIn, fetchFn }: SignInProps) {
  const [input, setInput] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const tokenRef = useRef<HTMLTextAreaElement>(null);

  // Sent back here mid-session (e.g. the token expired): start where the fix is, the token field,
  // which reads out the notice as its description.
  useEffect(() => {
    if (notice) tokenRef.current?.focus();
  }, [notice]);

  /** A refused token: say why and put focus back in the field to paste another. */
  function refuse(message: string) {
    setError(message);
    tokenRef.current?.focus();
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    // The button stays focusable while the token is checked (aria-disabled, not disabled), so
    // focus is not dropped to the page; a second press meanwhile does nothing.
    if (checking) return;
    const token = cleanToken(input);
    if (!token) {
      refuse('Paste your access token to sign in.');
      return;
    }
    const claims = decodeClaims(token);
    if (!claims) {
      refuse('That does not look like a token: a JWT has three parts separated by dots (xxxxx.yyyyy.zzzzz).');
      return;
    }
    setChecking(true);
    setError(null);
    const probe = new ApiClient({ baseUrl, getToken: () => token, fetch: fetchFn });
    try {
      await probe.listEvents({ limit: 1 });
      onSignedIn(token);
    } catch (err) {
      setChecking(false);
      refuse(describeError(err));
    }
  }

  const message = error ?? notice ?? null;

  return (
    <main className="signin">
      <form className="signin-card" onSubmit={submit} noValidate>
        <div className="brand brand-lg">
          <Logo />
          <span>EventFlow</span>
        </div>
        <h1>Sign in to the dashboard</h1>
        <p className="muted">Paste the access token (JWT) you were given. It stays in this browser tab only.</p>
        <label htmlFor="token" className="field-label">
          Access token
        </label>
        <textarea
          ref={tokenRef}
          id="token"
          name="token"
          className="input mono"
          rows={4}
          spellCheck={false}
          autoComplete="off"
          placeholder="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"
          value={input}
          onChange={(e) => setInput(e.target.value)}
          aria-invalid={message ? true : undefined}
          aria-describedby={message ? 'signin-message' : undefined}
        />
        {message ? (
          <p id="signin-message" className="alert alert-error" role="alert" data-testid="signin-message">
            {message}
          </p>
        ) : null}
        <button type="submit" className="btn btn-primary btn-block" aria-disabled={checking || undefined}>
          {checking ? 'Checking token…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#4f46e5" />
      <path d="M7 20l5-6 4 4 7-9" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
