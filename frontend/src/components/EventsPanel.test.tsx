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
    const newer = screen.getAllByRole('button', { name: '← Newer' })[0]!;
    const older = screen.getAllByRole('button', { name: 'Older →' })[0]!;
    expect(newer).toHaveProperty('disabled', true);
    expect(older).toHaveProperty('disabled', false);

    fireEvent.click(older);
    await waitFor(() => expect(rowIds()).toEqual(['e2']));
    expect(screen.getByTestId('page-number').textContent).toBe('Page 2');
    expect(new URL(String(fetchFn.mock.calls[1]![0]), 'http://x').searchParams.get('cursor')).toBe('cur-2');
    expect(screen.getAllByRole('button', { name: 'Older →' })[0]).toHaveProperty('disabled', true);

    fireEvent.click(screen.getAllByRole('button', { name: '← Newer' })[0]!);
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
    const error = await screen.findByTestId('error-state');
    expect(error.textContent).toContain('Could not load events');
    expect(error.textContent).toContain('from must be before to');
    fail = false;
    fireEvent.click(within(error).getByRole('button', { name: 'Try again' }));
    await screen.findAllByTestId('event-row');
    expect(rowIds()).toEqual(['e4', 'e3']);
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId('events-results')));
  });

  it('keeps focus on the pager while a page loads, then moves it to the results', async () => {
    let answer: ((r: Response) => void) | null = null;
    const fetchFn = fakeFetch({
      '/v1/events': (url) =>
        url.searchParams.get('cursor')
          ? new Promise<Response>((resolve) => (answer = resolve))
          : jsonResponse(200, pages['']),
    });
    renderPanel(fetchFn);
    await screen.findAllByTestId('event-row');
    const older = screen.getAllByRole('button', { name: 'Older →' })[0]!;
    older.focus();
    fireEvent.click(older);
    await waitFor(() => expect(older.getAttribute('aria-disabled')).toBe('true'));
    expect(older).toHaveProperty('disabled', false);
    expect(document.activeElement).toBe(older);
    fireEvent.click(older); // ignored while loading
    expect(fetchFn).toHaveBeenCalledTimes(2);
    answer!(jsonResponse(200, pages['cur-2']));
    await waitFor(() => expect(rowIds()).toEqual(['e2']));
    const results = screen.getByTestId('events-results');
    await waitFor(() => expect(document.activeElement).toBe(results));
    expect(results.getAttribute('aria-label')).toBe('Events, page 2');
  });

  it('moves focus to "Try again" when a page the user asked for fails', async () => {
    const fetchFn = fakeFetch({
      '/v1/events': (url) =>
        url.searchParams.get('cursor') ? errorResponse(500, 'internal', 'boom') : jsonResponse(200, pages['']),
    });
    renderPanel(fetchFn);
    await screen.findAllByTestId('event-row');
    fireEvent.click(screen.getAllByRole('button', { name: 'Older →' })[0]!);
    const retry = await screen.findByRole('button', { name: 'Try again' });
    await waitFor(() => expect(document.activeElement).toBe(retry));
  });

  it('has a pager above and below the table', async () => {
    renderPanel(fakeFetch({ '/v1/events': (url) => jsonResponse(200, pages[url.searchParams.get('cursor') ?? '']) }));
    await screen.findAllByTestId('event-row');
    expect(screen.getByRole('navigation', { name: 'Event pages' })).toBeTruthy();
    expect(screen.getByRole('navigation', { name: 'Event pages, bottom' })).toBeTruthy();
  });

  it('opens the detail view from the row or its name button, closes it, and gives focus back', async () => {
    renderPanel(fakeFetch({ '/v1/events': (url) => jsonResponse(200, pages[url.searchParams.get('cursor') ?? '']) }));
    const rows = await screen.findAllByTestId('event-row');
    // The cells keep their contents: a row carries no label of its own.
    expect(rows[0]!.getAttribute('aria-label')).toBeNull();
    fireEvent.click(rows[0]!);
    const detail = screen.getByRole('dialog');
    expect(within(detail).getByRole('heading', { level: 2 }).textContent).toBe('signup');
    expect(within(detail).getByTestId('detail-id').textContent).toBe('e4');
    const props = within(detail).getByTestId('detail-properties');
    expect(JSON.parse(props.textContent ?? '')).toEqual({ plan: 'pro', seats: 3 });
    expect(props.tabIndex).toBe(0);
    expect(document.activeElement).toBe(within(detail).getByRole('button', { name: 'Close details' }));
    expect(rows[0]!.className).toBe('selected');
    // Tab past the last control (the JSON) wraps to the first, Shift+Tab back.
    props.focus();
    fireEvent.keyDown(props, { key: 'Tab' });
    expect(document.activeElement).toBe(within(detail).getByRole('button', { name: 'Close details' }));
    fireEvent.keyDown(document.activeElement!, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(props);
    // Escape is the dialog's cancel event.
    fireEvent(detail, new Event('cancel', { cancelable: true }));
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(within(rows[0]!).getByRole('button')));

    const open = within(rows[1]!).getByRole('button', { name: /^login\b.*show details$/ });
    open.focus();
    fireEvent.click(open);
    const second = screen.getByRole('dialog');
    expect(within(second).getByTestId('detail-properties').textContent).toBe('This event has no properties.');
    expect(within(second).getByTestId('detail-user').textContent).toBe('none');
    fireEvent.click(within(second).getByRole('button', { name: 'Close details' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(open));
  });
});
