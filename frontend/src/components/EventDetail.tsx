import { useEffect, useRef } from 'react';
import type { EventRecord } from '../api/types';
import { formatTimestamp, prettyJson } from '../lib/format';

/** A side panel with everything about one event. Escape or the close button dismisses it. */
export function EventDetail({ event, onClose, timeZone }: { event: EventRecord; onClose: () => void; timeZone?: string }) {
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const props = event.properties ?? {};
  const hasProps = Object.keys(props).length > 0;

  return (
    <div className="drawer-backdrop" onClick={onClose}>
      <aside
        className="drawer"
        role="dialog"
        aria-modal="true"
        aria-labelledby="detail-title"
        data-testid="event-detail"
        onClick={(e) => e.stopPropagation()}
      >
        <header className="drawer-header">
          <div>
            <p className="eyebrow">Event</p>
            <h2 id="detail-title">{event.name}</h2>
          </div>
          <button ref={closeRef} type="button" className="btn btn-ghost" onClick={onClose} aria-label="Close details">
            ✕
          </button>
        </header>
        <dl className="detail-list">
          <dt>ID</dt>
          <dd>
            <code data-testid="detail-id">{event.id}</code>
          </dd>
          <dt>Timestamp</dt>
          <dd title={event.timestamp}>{formatTimestamp(event.timestamp, timeZone)}</dd>
          <dt>Received</dt>
          <dd title={event.received_at}>{formatTimestamp(event.received_at, timeZone)}</dd>
          <dt>User</dt>
          <dd data-testid="detail-user">{event.user_id ?? <span className="muted">none</span>}</dd>
        </dl>
        <h3 className="detail-heading">Properties</h3>
        {hasProps ? (
          <pre className="json" data-testid="detail-properties">
            {prettyJson(props)}
          </pre>
        ) : (
          <p className="muted" data-testid="detail-properties">
            This event has no properties.
          </p>
        )}
      </aside>
    </div>
  );
}
