import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../api/client';
import { HealthBadge } from './HealthBadge';
import { fakeFetch, jsonResponse } from '../test/helpers';

const SHA = '9f8e7d6c5b4a39281706f5e4d3c2b1a098765432';

function renderBadge(fetchFn: typeof fetch) {
  render(<HealthBadge api={new ApiClient({ baseUrl: '', fetch: fetchFn })} intervalMs={0} />);
}

describe('HealthBadge', () => {
  it('shows a loading state, then the version and short git sha', async () => {
    renderBadge(
      fakeFetch({
        '/health': () => jsonResponse(200, { status: 'ok', version: '0.1.0', git_sha: SHA, database: 'ok', migration_version: 4 }),
      }),
    );
    expect(screen.getByTestId('health-badge').dataset.status).toBe('loading');

    const sha = await screen.findByTestId('health-sha');
    expect(sha.textContent).toBe('9f8e7d6');
    expect(sha.dataset.sha).toBe(SHA);
    const badge = screen.getByTestId('health-badge');
    expect(badge.dataset.status).toBe('ok');
    expect(screen.getByTestId('health-version').textContent).toBe('v0.1.0');
    // The full report is in the page (a disclosure), not only in a tooltip.
    const details = screen.getByTestId('health-details');
    expect(details.textContent).toContain('Migration4');
    expect(details.textContent).toContain(`Git sha${SHA}`);
    expect(badge.tagName).toBe('DETAILS');
  });

  it('shows a degraded badge when the database is down (503)', async () => {
    renderBadge(fakeFetch({ '/health': () => jsonResponse(503, { status: 'unavailable', version: '0.1.0', git_sha: SHA, database: 'unavailable' }) }));
    await screen.findByTestId('health-sha');
    const badge = screen.getByTestId('health-badge');
    expect(badge.dataset.status).toBe('unavailable');
    expect(badge.textContent).toContain('API degraded');
    expect(badge.querySelector('summary')?.className).toContain('badge-down');
  });

  it('shows the API as unreachable when the request fails', async () => {
    renderBadge(
      vi.fn(async () => {
        throw new TypeError('Failed to fetch');
      }) as unknown as typeof fetch,
    );
    expect((await screen.findByText('API unreachable')).closest('[data-testid="health-badge"]')?.getAttribute('data-status')).toBe(
      'unreachable',
    );
  });
});
