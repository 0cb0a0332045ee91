import { useEffect } from 'react';
import type { ApiClient } from '../api/client';
import { useAsync } from '../hooks/useAsync';
import { shortSha } from '../lib/format';

/**
 * Version and git sha of the backend this dashboard talks to, refreshed every 30 s. The badge is
 * a disclosure (`<details>`): its full health report opens by keyboard, touch or mouse alike.
 */
export function HealthBadge({ api, intervalMs = 30_000 }: { api: ApiClient; intervalMs?: number }) {
  const health = useAsync('health', (signal) => api.health(signal));
  const { reload } = health;

  useEffect(() => {
    if (intervalMs <= 0) return;
    const id = setInterval(reload, intervalMs);
    return () => clearInterval(id);
  }, [reload, intervalMs]);

  const data = health.status === 'error' ? undefined : health.data;

  if (!data) {
    if (health.status === 'error') {
      return (
        <details className="health" data-testid="health-badge" data-status="unreachable">
          <summary className="badge badge-down">
            <span className="dot" aria-hidden="true" />
            API unreachable
          </summary>
          <p className="health-details" data-testid="health-details">
            GET /health failed: the API did not answer.
          </p>
        </details>
      );
    }
    return (
      <span className="badge badge-muted" data-testid="health-badge" data-status="loading">
        <span className="dot" aria-hidden="true" />
        Checking API…
      </span>
    );
  }

  const ok = data.status === 'ok';
  const details: [string, string][] = [
    ['Status', data.status],
    ['Version', data.version ?? 'unknown'],
    ['Git sha', data.git_sha ?? 'unknown'],
    ['Database', data.database ?? 'unknown'],
  ];
  if (data.migration_version !== undefined) details.push(['Migration', String(data.migration_version)]);

  return (
    <details className="health" data-testid="health-badge" data-status={data.status}>
      <summary className={`badge ${ok ? 'badge-ok' : 'badge-down'}`}>
        <span className="dot" aria-hidden="true" />
        <span>{ok ? 'API' : 'API degraded'}</span>
        <span className="badge-sep" aria-hidden="true" />
        <span data-testid="health-version">v{data.version ?? '?'}</span>
        <code className="badge-sha" data-testid="health-sha" data-sha={data.git_sha ?? ''}>
          {shortSha(data.git_sha)}
        </code>
        <span className="sr-only">, health details</span>
      </summary>
      <dl className="health-details" data-testid="health-details">
        {details.map(([term, value]) => (
          <div key={term}>
            <dt>{term}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </details>
  );
}
