import type { EventRecord } from '../api/types';
import { formatRelative, formatTimestamp, previewProperties } from '../lib/format';

export interface EventsTableProps {
  events: EventRecord[];
  selectedId?: string | null;
  onSelect: (event: EventRecord) => void;
  now?: Date;
  timeZone?: string;
}

/**
 * One row per event. Each row's name is a button that opens the details (keyboard and screen
 * readers reach it as a button, and the cells keep their own contents); a click anywhere on the
 * row does the same for the mouse. On a phone the properties column gives way (the details show
 * them), so the table fits the screen instead of scrolling sideways.
 */
export function EventsTable({ events, selectedId, onSelect, now, timeZone }: EventsTableProps) {
  return (
    <div className="table-wrap">
      <table className="events-table" data-testid="events-table">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Name</th>
            <th scope="col">User</th>
            <th scope="col" className="col-props">
              Properties
            </th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr
              key={event.id}
              data-testid="event-row"
              data-event-id={event.id}
              className={event.id === selectedId ? 'selected' : undefined}
              onClick={() => onSelect(event)}
            >
              <td className="cell-time">
                <time dateTime={event.timestamp}>{formatTimestamp(event.timestamp, timeZone)}</time>
                <span className="cell-sub">{formatRelative(event.timestamp, now)}</span>
              </td>
              <td className="cell-name">
                <button
                  type="button"
                  className="row-open"
                  onClick={(e) => {
                    // The row's own click handler would open it a second time.
                    e.stopPropagation();
                    onSelect(event);
                  }}
                >
                  <span className="pill" data-testid="event-name">
                    {event.name}
                  </span>
                  <span className="sr-only">, show details</span>
                </button>
              </td>
              <td className="cell-user">{event.user_id ?? <span className="muted">—</span>}</td>
              <td className="cell-props col-props">
                <code>{previewProperties(event.properties) || <span className="muted">none</span>}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
