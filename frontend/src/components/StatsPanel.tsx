import { useEffect, useRef } from 'react';
import type { ApiClient } from '../api/client';
import type { Bucket } from '../api/types';
import { useAsync } from '../hooks/useAsync';
import { buildChartData } from '../lib/chart';
import { formatCount } from '../lib/format';
import type { TimeRange } from '../lib/time';
import { bucketAllowed } from '../lib/time';
import { StatsChart } from './StatsChart';
import { EmptyState, ErrorState, LoadingState } from './States';

export interface StatsPanelProps {
  api: ApiClient;
  range: TimeRange;
  bucket: Bucket;
  nameFilter: string;
  onBucketChange: (bucket: Bucket) => void;
  /** Told this panel's error (or null when it has none), so the page can announce it once. */
  onError?: (error: unknown) => void;
}

export function StatsPanel({ api, range, bucket, nameFilter, onBucketChange, onError }: StatsPanelProps) {
  const key = `${range.from.toISOString()}|${range.to.toISOString()}|${bucket}`;
  const stats = useAsync(key, (signal) => api.getStats({ from: range.from, to: range.to, bucket }, signal));

  useEffect(() => {
    onError?.(stats.status === 'error' ? stats.error : null);
  }, [onError, stats.status, stats.error]);
  useEffect(() => () => onError?.(null), [onError]);

  // "Try again" goes away while it loads: focus lands on what it loaded (or on the new "Try again").
  const bodyRef = useRef<HTMLDivElement>(null);
  const retryRef = useRef<HTMLButtonElement>(null);
  const focusAfterLoad = useRef(false);
  useEffect(() => {
    if (!focusAfterLoad.current || stats.status === 'loading') return;
    focusAfterLoad.current = false;
    (stats.status === 'error' ? retryRef.current : bodyRef.current)?.focus();
  }, [stats.status]);

  const chart =
    stats.data && stats.status !== 'error'
      ? buildChartData(stats.data.buckets, range, stats.data.bucket ?? bucket, { nameFilter })
      : null;

  return (
    <section className="card" aria-labelledby="stats-title">
      <header className="card-header">
        <div>
          <h2 id="stats-title">Events over time</h2>
          <p className="card-sub">
            {chart ? `${formatCount(chart.total)} events${nameFilter ? ` named “${nameFilter}”` : ''}, per ${chart.bucket}` : 'Counts per event name'}
          </p>
        </div>
        <div className="segmented" role="group" aria-label="Bucket size">
          {(['minute', 'hour'] as const).map((b) => (
            <button
              key={b}
              type="button"
              className={b === bucket ? 'active' : ''}
              aria-pressed={b === bucket}
              disabled={!bucketAllowed(b, range)}
              title={bucketAllowed(b, range) ? undefined : 'Too many buckets for this time range'}
              onClick={() => onBucketChange(b)}
            >
              {b === 'minute' ? 'Per minute' : 'Per hour'}
            </button>
          ))}
        </div>
      </header>
      <div
        ref={bodyRef}
        className={`card-body${stats.status === 'loading' && chart ? ' is-refreshing' : ''}`}
        role="region"
        aria-label="Event counts"
        aria-busy={stats.status === 'loading'}
        tabIndex={-1}
      >
        {stats.status === 'error' ? (
          <ErrorState
            title="Could not load event counts"
            error={stats.error}
            onRetry={() => {
              focusAfterLoad.current = true;
              stats.reload();
            }}
            retryRef={retryRef}
          />
        ) : !chart ? (
          <LoadingState label="Loading event counts…" />
        ) : chart.total === 0 ? (
          <EmptyState title={nameFilter ? `No “${nameFilter}” events in this time range` : 'No events in this time range'}>
            Events sent to <code>POST /v1/events</code> appear here within seconds. Try a longer time range.
          </EmptyState>
        ) : (
          <>
            <dl className="kpis">
              <div>
                <dt>Events</dt>
                <dd data-testid="kpi-total">{formatCount(chart.total)}</dd>
              </div>
              <div>
                <dt>Event names</dt>
                <dd data-testid="kpi-names">{formatCount(chart.nameCount)}</dd>
              </div>
              <div>
                <dt>Busiest {chart.bucket}</dt>
                <dd data-testid="kpi-peak">{formatCount(chart.max)}</dd>
              </div>
            </dl>
            <StatsChart data={chart} />
          </>
        )}
      </div>
    </section>
  );
}
