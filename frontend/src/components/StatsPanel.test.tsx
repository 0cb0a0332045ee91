import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../api/client';
import type { Bucket } from '../api/types';
import { StatsPanel } from './StatsPanel';
import { errorResponse, fakeFetch, jsonResponse } from '../test/helpers';

const range = { from: new Date('2024-05-01T12:00:00Z'), to: new Date('2024-05-01T12:10:00Z') };

function renderPanel(fetchFn: typeof fetch, props: { nameFilter?: string; onBucketChange?: (b: Bucket) => void } = {}) {
  const api = new ApiClient({ baseUrl: '', getToken: () => 'tok', fetch: fetchFn });
  render(
    <StatsPanel api={api} range={range} bucket="minute" nameFilter={props.nameFilter ?? ''} onBucketChange={props.onBucketChange ?? (() => {})} />,
  );
}

const buckets = [
  { start: '2024-05-01T12:01:00Z', name: 'signup', count: 3 },
  { start: '2024-05-01T12:02:00Z', name: 'signup', count: 2 },
  { start: '2024-05-01T12:02:00Z', name: 'login', count: 1200 },
];

describe('StatsPanel', () => {
  it('loads, then draws one bar segment per non-empty bucket and a legend with totals', async () => {
    const fetchFn = fakeFetch({ '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets }) });
    renderPanel(fetchFn);
    expect(screen.getByRole('status').textContent).toContain('Loading event counts');

    const legend = await screen.findByTestId('chart-legend');
    const items = within(legend).getAllByRole('listitem');
    expect(items.map((li) => li.textContent)).toEqual(['login1,200', 'signup5']);
    const bars = screen.getByTestId('stats-chart').querySelectorAll('rect.chart-bar');
    expect([...bars].map((b) => `${b.getAttribute('data-series')}=${b.getAttribute('data-count')}`)).toEqual([
      'signup=3',
      'login=1200',
      'signup=2',
    ]);
    expect(screen.getByText('1,205 events, per minute')).toBeTruthy();
    expect(screen.getByTestId('kpi-total').textContent).toBe('1,205');
    expect(screen.getByTestId('kpi-names').textContent).toBe('2');
    expect(screen.getByTestId('kpi-peak').textContent).toBe('1,202');
    const url = new URL(String(fetchFn.mock.calls[0]![0]), 'http://x');
    expect(url.searchParams.get('bucket')).toBe('minute');
    expect(url.searchParams.get('from')).toBe('2024-05-01T12:00:00Z');
  });

  it('filters the chart by event name', async () => {
    renderPanel(fakeFetch({ '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets }) }), { nameFilter: 'signup' });
    const legend = await screen.findByTestId('chart-legend');
    expect(within(legend).getAllByRole('listitem').map((li) => li.getAttribute('data-series'))).toEqual(['signup']);
  });

  it('shows an empty state when there are no events', async () => {
    renderPanel(fakeFetch({ '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets: [] }) }));
    expect((await screen.findByTestId('empty-state')).textContent).toContain('No events in this time range');
  });

  it('shows an error with a retry that reloads', async () => {
    let fail = true;
    const fetchFn = fakeFetch({
      '/v1/stats': () => (fail ? errorResponse(500, 'internal', 'database unavailable') : jsonResponse(200, { bucket: 'minute', buckets })),
    });
    renderPanel(fetchFn);
    const error = await screen.findByTestId('error-state');
    expect(error.textContent).toContain('Could not load event counts');
    expect(error.textContent).toContain('database unavailable');

    fail = false;
    fireEvent.click(within(error).getByRole('button', { name: 'Try again' }));
    await screen.findByTestId('chart-legend');
    expect(fetchFn).toHaveBeenCalledTimes(2);
    // The button went away while it loaded: focus is on what it loaded, not lost.
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole('region', { name: 'Event counts' })));
  });

  it('switches bucket size, and disables minutes where they would not fit', async () => {
    const onBucketChange = vi.fn();
    renderPanel(fakeFetch({ '/v1/stats': () => jsonResponse(200, { bucket: 'minute', buckets }) }), { onBucketChange });
    fireEvent.click(screen.getByRole('button', { name: 'Per hour' }));
    expect(onBucketChange).toHaveBeenCalledWith('hour');
    expect(screen.getByRole('button', { name: 'Per minute' }).getAttribute('aria-pressed')).toBe('true');
  });
});
