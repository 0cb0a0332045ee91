import type { EventRecord } from '../api/types';
import { formatRelative, formatTimestamp, previewProperties } from '../lib/format';

export interface EventsTableProps {
  events: EventRecord[];
  selectedId?: string | null;
  onSelect: (event: EventRecord) => void;
  now?: Date;
  timeZone?: string;
}

export function EventsTable({ events, selectedId, onSelect, now, timeZone }: EventsTableProps) {
  return (
    <div className="table-wrap">
      <table className="events-table" data-testid="events-table">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Name</th>
            <th scope="col">User</th>
            <th scope="col">Properties</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr
              key={event.id}
              data-testid="event-row"
              data-event-id={event.id}
              className={event.id === selectedId ? 'selected' : undefined}
              tabIndex={0}
              aria-label={`${event.name} at ${formatTimestamp(event.timestamp, timeZone)}, show details`}
              onClick={() => onSelect(event)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' || e.key === ' ') {
                  e.preventDefault();
                  onSelect(event);
                }
              }}
            >
              <td className="cell-time">
                <time dateTime={event.timestamp} title={event.timestamp}>
                  {formatTimestamp(event.timestamp, timeZone)}
                </time>
                <span className="cell-sub">{formatRelative(event.timestamp, now)}</span>
              </td>
              <td>
                <span className="pill" data-testid="event-name">
                  {event.name}
                </span>
              </td>
              <td className="cell-user">{event.user_id ?? <span className="muted">—</span>}</td>
              <td className="cell-props">
                <code>{previewProperties(event.properties) || <span className="muted">none</span>}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
