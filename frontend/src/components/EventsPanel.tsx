import { useCallback, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { EventRecord } from '../api/types';
import { useAsync } from '../hooks/useAsync';
import { localTimeZone } from '../lib/format';
import { currentCursor, firstPage, hasPrevious, nextPage, previousPage } from '../lib/paging';
import type { TimeRange } from '../lib/time';
import { EventDetail } from './EventDetail';
import { EventsTable } from './EventsTable';
import { EmptyState, ErrorState, LoadingState } from './States';

export interface EventsPanelProps {
  api: ApiClient;
  range: TimeRange;
  nameFilter: string;
  pageSize?: number;
}

/**
 * The newest events for the filters, a page at a time. Give it a `key` that changes with the
 * filters so paging starts over when they change.
 */
export function EventsPanel({ api, range, nameFilter, pageSize = 25 }: EventsPanelProps) {
  const [paging, setPaging] = useState(firstPage);
  const [selected, setSelected] = useState<EventRecord | null>(null);
  const closeDetail = useCallback(() => setSelected(null), []);
  const cursor = currentCursor(paging);
  const page = useAsync(`${paging.page}|${cursor ?? ''}`, (signal) =>
    api.listEvents({ name: nameFilter || undefined, from: range.from, to: range.to, limit: pageSize, cursor }, signal),
  );

  const data = page.status === 'success' ? page.data : undefined;
  const refreshing = page.status === 'loading' && page.data !== undefined;

  return (
    <section className="card" aria-labelledby="events-title">
      <header className="card-header">
        <div>
          <h2 id="events-title">Newest events</h2>
          <p className="card-sub">
            Newest first{nameFilter ? ` · name “${nameFilter}”` : ''} · times in {localTimeZone()} · select a row for details
          </p>
        </div>
        <nav className="pager" aria-label="Pages">
          <span className="pager-label" data-testid="page-number">
            Page {paging.page + 1}
          </span>
          <button
            type="button"
            className="btn btn-secondary"
            disabled={!hasPrevious(paging) || page.status === 'loading'}
            onClick={() => setPaging(previousPage)}
          >
            ← Newer
          </button>
          <button
            type="button"
            className="btn btn-secondary"
            disabled={!data?.next_cursor}
            onClick={() => setPaging((p) => nextPage(p, data?.next_cursor ?? null))}
          >
            Older →
          </button>
        </nav>
      </header>
      <div className={`card-body flush${refreshing ? ' is-refreshing' : ''}`}>
        {page.status === 'error' ? (
          <ErrorState error={page.error} onRetry={page.reload} />
        ) : page.status === 'loading' && !page.data ? (
          <LoadingState label="Loading events…" />
        ) : (page.data?.events.length ?? 0) === 0 ? (
          <EmptyState title={paging.page > 0 ? 'No older events' : 'No events match these filters'}>
            {paging.page > 0 ? 'You have reached the oldest event in this time range.' : 'Widen the time range or clear the name filter.'}
          </EmptyState>
        ) : (
          <EventsTable events={page.data?.events ?? []} selectedId={selected?.id} onSelect={setSelected} />
        )}
      </div>
      {selected ? <EventDetail event={selected} onClose={closeDetail} /> : null}
    </section>
  );
}
