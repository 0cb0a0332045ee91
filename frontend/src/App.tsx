import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiClient, describeError } from './api/client';
import type { ApiError } from './api/client';
import type { Bucket } from './api/types';
import { EventsPanel } from './components/EventsPanel';
import { FilterBar } from './components/FilterBar';
import type { Filters } from './components/FilterBar';
import { HealthBadge } from './components/HealthBadge';
import { Logo, SignIn } from './components/SignIn';
import { StatsPanel } from './components/StatsPanel';
import { apiBaseUrl } from './config';
import { clearToken, decodeClaims, loadToken, saveToken } from './lib/session';
import type { TimeRange } from './lib/time';
import { bucketAllowed, defaultBucket, fromLocalInput, presetRange, toLocalInput } from './lib/time';

export interface AppProps {
  baseUrl?: string;
  fetchFn?: typeof fetch;
  /** Health polling period; 0 turns polling off (tests). */
  healthIntervalMs?: number;
}

function rangeOf(filters: Filters, now: Date): TimeRange {
  if (filters.preset === 'custom') {
    const from = fromLocalInput(filters.customFrom);
    const to = fromLocalInput(filters.customTo);
    if (from && to) return { from, to };
    return presetRange('1h', now);
  }
  return presetRange(filters.preset, now);
}

export function App({ baseUrl = apiBaseUrl(), fetchFn, healthIntervalMs = 30_000 }: AppProps) {
  const [token, setToken] = useState<string | null>(() => loadToken());
  const [notice, setNotice] = useState<string | null>(null);
  // Set by signing in, so the dashboard takes focus from the sign-in form that just went away.
  const [justSignedIn, setJustSignedIn] = useState(false);

  const signOut = useCallback((message: string | null) => {
    clearToken();
    setToken(null);
    setNotice(message);
  }, []);

  const api = useMemo(
    () =>
      new ApiClient({
        baseUrl,
        fetch: fetchFn,
        // sessionStorage is the source of truth, so every request uses the current token.
        getToken: () => loadToken(),
        onAuthError: (error: ApiError) =>
          signOut(
            error.code === 'token_expired'
              ? 'Your session has expired. Paste a fresh token to continue.'
              : 'Your token is no longer accepted. Paste a valid token to continue.',
          ),
      }),
    [baseUrl, fetchFn, signOut],
  );

  const signIn = useCallback((newToken: string) => {
    saveToken(newToken);
    setNotice(null);
    setJustSignedIn(true);
    setToken(newToken);
  }, []);

  const health = <HealthBadge api={api} intervalMs={healthIntervalMs} />;

  if (!token) {
    return (
      <>
        <SignIn baseUrl={baseUrl} notice={notice} onSignedIn={signIn} fetchFn={fetchFn} />
        <footer className="signin-footer">{health}</footer>
      </>
    );
  }

  return <Dashboard api={api} token={token} health={health} takeFocus={justSignedIn} onSignOut={() => signOut(null)} />;
}

function Dashboard({
  api,
  token,
  health,
  takeFocus,
  onSignOut,
}: {
  api: ApiClient;
  token: string;
  health: ReactNode;
  /** Move focus to the page's heading on arrival, as the form that had it is gone. */
  takeFocus: boolean;
  onSignOut: () => void;
}) {
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (takeFocus) headingRef.current?.focus();
  }, [takeFocus]);

  const [filters, setFilters] = useState<Filters>(() => {
    const now = new Date();
    return { name: '', preset: '1h', customFrom: toLocalInput(new Date(now.getTime() - 3_600_000)), customTo: toLocalInput(now) };
  });
  const [now, setNow] = useState(() => new Date());
  const [generation, setGeneration] = useState(0);
  const [bucketChoice, setBucketChoice] = useState<Bucket | null>(null);

  const range = useMemo(() => rangeOf(filters, now), [filters, now]);
  const bucket = bucketChoice && bucketAllowed(bucketChoice, range) ? bucketChoice : defaultBucket(range);
  const claims = decodeClaims(token);

  const apply = (next: Filters) => {
    setFilters(next);
    setNow(new Date());
    setGeneration((g) => g + 1);
  };
  const refresh = () => {
    setNow(new Date());
    setGeneration((g) => g + 1);
  };

  const queryKey = `${generation}|${range.from.toISOString()}|${range.to.toISOString()}|${filters.name}`;

  // Both panels fail together when the API does (a 500, a network error): one alert says so,
  // instead of one identical alert per panel.
  const [statsError, setStatsError] = useState<unknown>(null);
  const [eventsError, setEventsError] = useState<unknown>(null);
  const announced = [...new Set([statsError, eventsError].filter((e) => e !== null).map(describeError))];

  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar-inner">
          <h1 className="brand" ref={headingRef} tabIndex={-1}>
            <Logo />
            <span>EventFlow</span>
            <span className="sr-only"> dashboard</span>
          </h1>
          <div className="topbar-right">
            {health}
            <span className="user">
              {claims?.sub ?? 'signed in'}
              {claims?.role ? (
                <span className="role">
                  <span className="sr-only">role: </span>
                  {claims.role}
                </span>
              ) : null}
            </span>
            <button type="button" className="btn btn-ghost" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main className="content">
        <p className="sr-only" role="alert" data-testid="page-alert">
          {announced.length > 0 ? `Could not load the dashboard: ${announced.join(' ')}` : ''}
        </p>
        <FilterBar value={filters} onApply={apply} onRefresh={refresh} />
        <StatsPanel
          key={`stats-${generation}`}
          api={api}
          range={range}
          bucket={bucket}
          nameFilter={filters.name}
          onBucketChange={setBucketChoice}
          onError={setStatsError}
        />
        <EventsPanel key={`events-${queryKey}`} api={api} range={range} nameFilter={filters.name} onError={setEventsError} />
      </main>
    </div>
  );
}
