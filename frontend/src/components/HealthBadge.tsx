import { useEffect } from 'react';
import type { ApiClient } from '../api/client';
import { useAsync } from '../hooks/useAsync';
import { shortSha } from '../lib/format';

/** Version and git sha of the backend this dashboard talks to, refreshed every 30 s. */
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
        <span className="badge badge-down" data-testid="health-badge" data-status="unreachable" title="GET /health failed">
          <span className="dot" aria-hidden="true" />
          API unreachable
        </span>
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
  const details = [
    `status: ${data.status}`,
    `version: ${data.version ?? 'unknown'}`,
    `git sha: ${data.git_sha ?? 'unknown'}`,
    `database: ${data.database ?? 'unknown'}`,
    data.migration_version !== undefined ? `migration: ${data.migration_version}` : null,
  ]
    .filter(Boolean)
    .join('\n');

  return (
    <span
      className={`badge ${ok ? 'badge-ok' : 'badge-down'}`}
      data-testid="health-badge"
      data-status={data.status}
      title={details}
    >
      <span className="dot" aria-hidden="true" />
      <span>{ok ? 'API' : 'API degraded'}</span>
      <span className="badge-sep" aria-hidden="true" />
      <span data-testid="health-version">v{data.version ?? '?'}</span>
      <code className="badge-sha" data-testid="health-sha" data-sha={data.git_sha ?? ''}>
        {shortSha(data.git_sha)}
      </code>
    </span>
  );
}
