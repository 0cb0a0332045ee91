import { useEffect, useRef } from 'react';
import type { KeyboardEvent } from 'react';
import type { EventRecord } from '../api/types';
import { formatTimestamp, prettyJson } from '../lib/format';

/**
 * A side panel with everything about one event: a native modal `<dialog>`, so the browser keeps
 * focus inside it and makes the page behind inert (unreachable by Tab and by screen readers).
 * Escape, the close button or a click on the backdrop dismisses it; the opener restores focus.
 */
const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])';

/**
 * Tab past the last control wraps to the first, and Shift+Tab back again: a modal dialog leaves
 * the page behind inert, but browsers still let Tab go on to their own toolbar and the document.
 */
function wrapTab(e: KeyboardEvent<HTMLDialogElement>) {
  if (e.key !== 'Tab') return;
  const focusable = [...e.currentTarget.querySelectorAll<HTMLElement>(FOCUSABLE)];
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (!first || !last) return;
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}

export function EventDetail({ event, onClose, timeZone }: { event: EventRecord; onClose: () => void; timeZone?: string }) {
  const dialogRef = useRef<HTMLDialogElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const dialog = dialogRef.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    closeRef.current?.focus();
    return () => {
      if (dialog.open) dialog.close();
    };
  }, []);

  const props = event.properties ?? {};
  const hasProps = Object.keys(props).length > 0;

  return (
    <dialog
      ref={dialogRef}
      className="drawer"
      aria-labelledby="detail-title"
      data-testid="event-detail"
      onCancel={(e) => {
        // Escape: the parent unmounts the dialog, which is what closes it.
        e.preventDefault();
        onClose();
      }}
      onClose={onClose}
      onKeyDown={wrapTab}
      onClick={(e) => {
        // The dialog element itself is only hit outside .drawer-body: on the backdrop.
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div className="drawer-body">
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
          <dd>
            {formatTimestamp(event.timestamp, timeZone)}
            <span className="detail-raw">{event.timestamp}</span>
          </dd>
          <dt>Received</dt>
          <dd>
            {formatTimestamp(event.received_at, timeZone)}
            <span className="detail-raw">{event.received_at}</span>
          </dd>
          <dt>User</dt>
          <dd data-testid="detail-user">{event.user_id ?? <span className="muted">none</span>}</dd>
        </dl>
        <h3 className="detail-heading" id="detail-properties-title">
          Properties
        </h3>
        {hasProps ? (
          // Scrolls sideways for long values, so it takes focus: keyboard users can scroll it too.
          <pre className="json" data-testid="detail-properties" tabIndex={0} role="region" aria-labelledby="detail-properties-title">
            {prettyJson(props)}
          </pre>
        ) : (
          <p className="muted" data-testid="detail-properties">
            This event has no properties.
          </p>
        )}
      </div>
    </dialog>
  );
}
