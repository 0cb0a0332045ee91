import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../api/client';
import { EventsPanel } from './EventsPanel';
import { errorResponse, fakeFetch, jsonResponse, makeEvent } from '../test/helpers';

const range = { from: new Date('2024-05-01T00:00:00Z'), to: new Date('2024-05-01T23:00:00Z') };

function renderPanel(fetchFn: typeof fetch, nameFilter = '') {
  const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch: fetchFn });
  render(<EventsPanel api={api} range={range} nameFilter={nameFilter} pageSize={2} />);
}

const pages: Record<string, { events: ReturnType<typeof makeEvent>[]; next_cursor: string | null }> = {
  '': {
    events: [
      makeEvent({ id: 'e4', name: 'signup', timestamp: '2024-05-01T12:04:00Z', properties: { plan: 'pro', seats: 3 } }),
      makeEvent({ id: 'e3', name: 'login', timestamp: '2024-05-01T12:03:00Z', user_id: null, properties: null }),
    ],
    next_cursor: 'cur-2',
  },
  'cur-2': { events: [makeEvent({ id: 'e2', name: 'logout', timestamp: '2024-05-01T12:02:00Z' })], next_cursor: null },
};

const rowIds = () => screen.getAllByTestId('event-row').map((r) => r.dataset.eventId);

describe('EventsPanel', () => {
  it('shows loading, then the newest events with the filters in the query', async () => {
    const fetchFn = fakeFetch({ '/v1/events': (url) => jsonResponse(200, pages[url.searchParams.get('cursor') ?? '']) });
    renderPanel(fetchFn, 'signup');
    expect(screen.getByRole('status').textContent).toContain('Loading events');

    await screen.findAllByTestId('event-row');
    expect(rowIds()).toEqual(['e4', 'e3']);
    const first = screen.getAllByTestId('event-row')[0]!;
    expect(within(first).getByTestId('event-name').textContent).toBe('signup');
    expect(first.textContent).toContain('plan: "pro", seats: 3');

    const url = new URL(String(fetchFn.mock.calls[0]![0]), 'http://x');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      name: 'signup',
      from: '2024-05-01T00:00:00Z',
      to: '2024-05-01T23:00:00Z',
      limit: '2',
    });
  });

  it('pages forward with next_cursor and back again', async () => {
    const fetchFn = fakeFetch({ '/v1/events': (url) => jsonResponse(200, pages[url.searchParams.get('cursor') ?? '']) });
    renderPanel(fetchFn);
    await screen.findAllByTestId('event-row');
    const newer = screen.getByRole('button', { name: '← Newer' });
    const older = screen.getByRole('button', { name: 'Older →' });
    expect(newer).toHaveProperty('disabled', true);
    expect(older).toHaveProperty('disabled', false);

    fireEvent.click(older);
    await waitFor(() => expect(rowIds()).toEqual(['e2']));
    expect(screen.getByTestId('page-number').textContent).toBe('Page 2');
    expect(new URL(String(fetchFn.mock.calls[1]![0]), 'http://x').searchParams.get('cursor')).toBe('cur-2');
    expect(screen.getByRole('button', { name: 'Older →' })).toHaveProperty('disabled', true);

    fireEvent.click(screen.getByRole('button', { name: '← Newer' }));
    await waitFor(() => expect(rowIds()).toEqual(['e4', 'e3']));
    expect(screen.getByTestId('page-number').textContent).toBe('Page 1');
    expect(new URL(String(fetchFn.mock.calls[2]![0]), 'http://x').searchParams.has('cursor')).toBe(false);
  });

  it('shows an empty state', async () => {
    renderPanel(fakeFetch({ '/v1/events': () => jsonResponse(200, { events: [], next_cursor: null }) }));
    expect((await screen.findByTestId('empty-state')).textContent).toContain('No events match these filters');
    expect(screen.getByRole('button', { name: 'Older →' })).toHaveProperty('disabled', true);
  });

  it('shows an error with the API message and retries', async () => {
    let fail = true;
    const fetchFn = fakeFetch({
      '/v1/events': () => (fail ? errorResponse(400, 'invalid_query', 'from must be before to') : jsonResponse(200, pages[''])),
    });
    renderPanel(fetchFn);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('from must be before to');
    fail = false;
    fireEvent.click(within(alert).getByRole('button', { name: 'Try again' }));
    await screen.findAllByTestId('event-row');
    expect(rowIds()).toEqual(['e4', 'e3']);
  });

  it('opens the detail view of an event and closes it with Escape', async () => {
    renderPanel(fakeFetch({ '/v1/events': (url) => jsonResponse(200, pages[url.searchParams.get('cursor') ?? '']) }));
    const rows = await screen.findAllByTestId('event-row');

    fireEvent.click(rows[0]!);
    const detail = screen.getByRole('dialog');
    expect(within(detail).getByRole('heading', { level: 2 }).textContent).toBe('signup');
    expect(within(detail).getByTestId('detail-id').textContent).toBe('e4');
    expect(JSON.parse(within(detail).getByTestId('detail-properties').textContent ?? '')).toEqual({ plan: 'pro', seats: 3 });
    expect(rows[0]!.className).toBe('selected');

    fireEvent.keyDown(window, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();

    fireEvent.keyDown(rows[1]!, { key: 'Enter' });
    const second = screen.getByRole('dialog');
    expect(within(second).getByTestId('detail-properties').textContent).toBe('This event has no properties.');
    expect(within(second).getByTestId('detail-user').textContent).toBe('none');
    fireEvent.click(within(second).getByRole('button', { name: 'Close details' }));
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});
