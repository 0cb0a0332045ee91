import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from './App';
import { saveToken } from './lib/session';
import { errorResponse, fakeFetch, inAnHour, jsonResponse, makeEvent, makeJwt } from './test/helpers';

const health = () => jsonResponse(200, { status: 'ok', version: '0.1.0', git_sha: 'abcdef1234567890', database: 'ok', migration_version: 2 });

describe('App', () => {
  it('signs in with a pasted token and shows the dashboard', async () => {
    const token = makeJwt({ sub: 'ana', role: 'admin', exp: inAnHour() });
    const fetchFn = fakeFetch({
      '/health': health,
      '/v1/events': () => jsonResponse(200, { events: [makeEvent({ timestamp: new Date().toISOString() })], next_cursor: null }),
      '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets: [{ start: new Date().toISOString(), name: 'signup', count: 1 }] }),
    });
    render(<App baseUrl="" fetchFn={fetchFn} healthIntervalMs={0} />);

    expect((await screen.findByTestId('health-sha')).textContent).toBe('abcdef1');
    fireEvent.change(screen.getByLabelText('Access token'), { target: { value: token } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));

    expect(await screen.findByRole('heading', { name: 'Events over time' })).toBeTruthy();
    // The sign-in form that had focus is gone: focus is on the dashboard's heading, not lost.
    expect(document.activeElement).toBe(screen.getByRole('heading', { level: 1 }));
    expect(sessionStorage.getItem('eventflow.token')).toBe(token);
    expect(screen.getByText('ana')).toBeTruthy();
    expect(screen.getByText('admin')).toBeTruthy();
    await screen.findAllByTestId('event-row');
    await screen.findByTestId('chart-legend');
  });

  it('returns to sign-in with a clear message when the token expires mid-session', async () => {
    saveToken(makeJwt({ sub: 'ana', exp: inAnHour() }));
    const fetchFn = fakeFetch({
      '/health': health,
      '/v1/events': () => errorResponse(401, 'token_expired', 'token expired'),
      '/v1/stats': () => errorResponse(401, 'token_expired', 'token expired'),
    });
    render(<App baseUrl="" fetchFn={fetchFn} healthIntervalMs={0} />);

    const alert = await screen.findByTestId('signin-message');
    expect(alert.textContent).toBe('Your session has expired. Paste a fresh token to continue.');
    expect(sessionStorage.getItem('eventflow.token')).toBeNull();
  });

  it('announces one alert when both panels fail for the same reason (API 500)', async () => {
    saveToken(makeJwt({ sub: 'ana', exp: inAnHour() }));
    const fetchFn = fakeFetch({
      '/health': health,
      '/v1/events': () => errorResponse(500, 'internal', 'internal error'),
      '/v1/stats': () => errorResponse(500, 'internal', 'internal error'),
    });
    render(<App baseUrl="" fetchFn={fetchFn} healthIntervalMs={0} />);

    await waitFor(() => expect(screen.getAllByTestId('error-state')).toHaveLength(2));
    await waitFor(() => expect(screen.getByTestId('page-alert').textContent).toMatch(/^Could not load the dashboard: \S/));
    expect(screen.getAllByRole('alert')).toHaveLength(1);
    expect(screen.getByRole('heading', { level: 1 }).textContent).toContain('EventFlow');
  });

  it('loads a new time range on Apply, not on every option the select passes', async () => {
    saveToken(makeJwt({ sub: 'ana', exp: inAnHour() }));
    const fetchFn = fakeFetch({
      '/health': health,
      '/v1/events': () => jsonResponse(200, { events: [], next_cursor: null }),
      '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets: [] }),
    });
    render(<App baseUrl="" fetchFn={fetchFn} healthIntervalMs={0} />);
    await screen.findAllByTestId('empty-state');
    const requests = () => fetchFn.mock.calls.filter(([url]) => String(url).startsWith('/v1/')).length;
    const before = requests();

    const select = screen.getByLabelText('Time range') as HTMLSelectElement;
    const presets = [...select.options].map((o) => o.value).filter((v) => v !== 'custom');
    for (const value of presets.slice(1, 4)) fireEvent.change(select, { target: { value } });
    expect(requests()).toBe(before);

    fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(requests()).toBe(before + 2));
  });

  it('applies the name filter to the events query and signs out', async () => {
    saveToken(makeJwt({ sub: 'ana', exp: inAnHour() }));
    const fetchFn = fakeFetch({
      '/health': health,
      '/v1/events': () => jsonResponse(200, { events: [], next_cursor: null }),
      '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets: [] }),
    });
    render(<App baseUrl="" fetchFn={fetchFn} healthIntervalMs={0} />);
    await screen.findAllByTestId('empty-state');

    const filters = screen.getByRole('form', { name: 'Filters' });
    fireEvent.change(within(filters).getByLabelText('Event name'), { target: { value: ' checkout ' } });
    fireEvent.click(within(filters).getByRole('button', { name: 'Apply' }));

    await waitFor(() => {
      const names = fetchFn.mock.calls
        .map(([url]) => new URL(String(url), 'http://x'))
        .filter((u) => u.pathname === '/v1/events')
        .map((u) => u.searchParams.get('name'));
      expect(names).toContain('checkout');
    });

    fireEvent.change(within(filters).getByLabelText('Time range'), { target: { value: 'custom' } });
    fireEvent.change(within(filters).getByLabelText('From'), { target: { value: '2024-05-02T10:00' } });
    fireEvent.change(within(filters).getByLabelText('To'), { target: { value: '2024-05-01T10:00' } });
    fireEvent.click(within(filters).getByRole('button', { name: 'Apply' }));
    expect(within(filters).getByRole('alert').textContent).toBe('The start must be before the end.');

    fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(screen.getByLabelText('Access token')).toBeTruthy();
    expect(sessionStorage.getItem('eventflow.token')).toBeNull();
  });
});
