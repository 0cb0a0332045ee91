import { useCallback, useEffect, useRef, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { EventRecord } from '../api/types';
import { useAsync } from '../hooks/useAsync';
import { localTimeZone } from '../lib/format';
import type { PagingState } from '../lib/paging';
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
  /** Told this panel's error (or null when it has none), so the page can announce it once. */
  onError?: (error: unknown) => void;
}

/**
 * The newest events for the filters, a page at a time. Give it a `key` that changes with the
 * filters so paging starts over when they change.
 */
export function EventsPanel({ api, range, nameFilter, pageSize = 25, onError }: EventsPanelProps) {
  const [paging, setPaging] = useState(firstPage);
  const [selected, setSelected] = useState<EventRecord | null>(null);
  const cursor = currentCursor(paging);
  const page = useAsync(`${paging.page}|${cursor ?? ''}`, (signal) =>
    api.listEvents({ name: nameFilter || undefined, from: range.from, to: range.to, limit: pageSize, cursor }, signal),
  );

  const data = page.status === 'success' ? page.data : undefined;
  const refreshing = page.status === 'loading' && page.data !== undefined;
  const loading = page.status === 'loading';

  // Where focus goes once a page the user asked for has loaded: the results, or "Try again".
  const resultsRef = useRef<HTMLDivElement>(null);
  const retryRef = useRef<HTMLButtonElement>(null);
  const focusAfterLoad = useRef(false);
  const turnPage = (move: (p: PagingState) => PagingState) => {
    if (loading) return;
    focusAfterLoad.current = true;
    setPaging(move);
  };
  useEffect(() => {
    if (!focusAfterLoad.current || page.status === 'loading') return;
    focusAfterLoad.current = false;
    (page.status === 'error' ? retryRef.current : resultsRef.current)?.focus();
  }, [page.status]);

  useEffect(() => {
    onError?.(page.status === 'error' ? page.error : null);
  }, [onError, page.status, page.error]);
  useEffect(() => () => onError?.(null), [onError]);

  // The detail panel gives focus back to the row that opened it.
  const openerId = useRef<string | null>(null);
  const open = useCallback((event: EventRecord) => {
    openerId.current = event.id;
    setSelected(event);
  }, []);
  const closeDetail = useCallback(() => setSelected(null), []);
  useEffect(() => {
    if (selected || openerId.current === null) return;
    const id = openerId.current;
    openerId.current = null;
    const row = [...(resultsRef.current?.querySelectorAll<HTMLElement>('[data-event-id]') ?? [])].find(
      (r) => r.dataset.eventId === id,
    );
    row?.querySelector<HTMLElement>('.row-open')?.focus();
  }, [selected]);

  const pager = (where: 'top' | 'bottom') => (
    <Pager
      label={where === 'top' ? 'Event pages' : 'Event pages, bottom'}
      page={paging.page}
      showNumber={where === 'top'}
      canGoNewer={hasPrevious(paging)}
      canGoOlder={!!data?.next_cursor}
      loading={loading}
      onNewer={() => turnPage(previousPage)}
      onOlder={() => turnPage((p) => nextPage(p, data?.next_cursor ?? null))}
    />
  );

  return (
    <section className="card" aria-labelledby="events-title">
      <header className="card-header">
        <div>
          <h2 id="events-title">Newest events</h2>
          <p className="card-sub">
            Newest first{nameFilter ? ` · name “${nameFilter}”` : ''} · times in {localTimeZone()} · select a row for details
          </p>
        </div>
        {pager('top')}
      </header>
      <div
        ref={resultsRef}
        className={`card-body flush results${refreshing ? ' is-refreshing' : ''}`}
        role="region"
        aria-label={`Events, page ${paging.page + 1}`}
        aria-busy={loading}
        tabIndex={-1}
        data-testid="events-results"
      >
        {page.status === 'error' ? (
          <ErrorState
            title="Could not load events"
            error={page.error}
            onRetry={() => {
              // "Try again" goes away while it loads: focus lands on what it loaded instead.
              focusAfterLoad.current = true;
              page.reload();
            }}
            retryRef={retryRef}
          />
        ) : page.status === 'loading' && !page.data ? (
          <LoadingState label="Loading events…" />
        ) : (page.data?.events.length ?? 0) === 0 ? (
          <EmptyState title={paging.page > 0 ? 'No older events' : 'No events match these filters'}>
            {paging.page > 0 ? 'You have reached the oldest event in this time range.' : 'Widen the time range or clear the name filter.'}
          </EmptyState>
        ) : (
          <EventsTable events={page.data?.events ?? []} selectedId={selected?.id} onSelect={open} />
        )}
      </div>
      {(page.data?.events.length ?? 0) > 0 ? <footer className="card-footer">{pager('bottom')}</footer> : null}
      {selected ? <EventDetail event={selected} onClose={closeDetail} /> : null}
    </section>
  );
}

interface PagerProps {
  label: string;
  page: number;
  showNumber: boolean;
  canGoNewer: boolean;
  canGoOlder: boolean;
  loading: boolean;
  onNewer: () => void;
  onOlder: () => void;
}

/**
 * Newer / Older. While a page loads the buttons are aria-disabled, not disabled: a disabled
 * button drops the focus it holds to the page, and the next Tab would start over from the top.
 */
function Pager({ label, page, showNumber, canGoNewer, canGoOlder, loading, onNewer, onOlder }: PagerProps) {
  return (
    <nav className="pager" aria-label={label}>
      {showNumber ? (
        <span className="pager-label" data-testid="page-number">
          Page {page + 1}
        </span>
      ) : null}
      <button
        type="button"
        className="btn btn-secondary"
        disabled={!canGoNewer}
        aria-disabled={(canGoNewer && loading) || undefined}
        onClick={onNewer}
      >
        ← Newer
      </button>
      <button
        type="button"
        className="btn btn-secondary"
        disabled={!canGoOlder && !loading}
        aria-disabled={loading || undefined}
        onClick={onOlder}
      >
        Older →
      </button>
    </nav>
  );
}
