import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { SignIn } from './SignIn';
import { errorResponse, fakeFetch, inAnHour, jsonResponse, makeJwt } from '../test/helpers';

function setup(status: number | 'network', code = '') {
  const fetchFn =
    status === 'network'
      ? (vi.fn(async () => {
          throw new TypeError('Failed to fetch');
        }) as unknown as typeof fetch)
      : fakeFetch({
          '/v1/events': () => (status === 200 ? jsonResponse(200, { events: [], next_cursor: null }) : errorResponse(status, code, code)),
        });
  const onSignedIn = vi.fn();
  render(<SignIn baseUrl="" onSignedIn={onSignedIn} fetchFn={fetchFn} />);
  const submit = (token: string) => {
    fireEvent.change(screen.getByLabelText('Access token'), { target: { value: token } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
  };
  return { fetchFn, onSignedIn, submit };
}

describe('SignIn', () => {
  it('checks the token against the API and signs in', async () => {
    const { fetchFn, onSignedIn, submit } = setup(200);
    const token = makeJwt({ sub: 'ana', exp: inAnHour() });

    submit(`Bearer ${token}`);

    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith(token));
    const [url, init] = (fetchFn as unknown as ReturnType<typeof vi.fn>).mock.calls[0]!;
    expect(url).toBe('/v1/events?limit=1');
    expect((init.headers as Record<string, string>).Authorization).toBe(`Bearer ${token}`);
  });

  it('says the token has expired when the API answers token_expired', async () => {
    const { onSignedIn, submit } = setup(401, 'token_expired');
    submit(makeJwt({ sub: 'ana', exp: inAnHour() }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('Your token has expired. Paste a fresh token to sign in again.');
    expect(onSignedIn).not.toHaveBeenCalled();
    expect(screen.getByRole('button', { name: 'Sign in' })).toHaveProperty('disabled', false);
    // Focus goes back to the field, to paste another token.
    expect(document.activeElement).toBe(screen.getByLabelText('Access token'));
  });

  it('says the token was not accepted when the API answers unauthorized', async () => {
    const { submit } = setup(401, 'unauthorized');
    submit(makeJwt({ sub: 'ana' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/^This token was not accepted/);
  });

  it('rejects text that is not a JWT, and an empty field', async () => {
    const { fetchFn, submit } = setup(200);
    submit('   ');
    expect((await screen.findByRole('alert')).textContent).toBe('Paste your access token to sign in.');
    submit('my-password');
    expect(screen.getByRole('alert').textContent).toMatch(/does not look like a token/);
    expect(fetchFn).not.toHaveBeenCalled();
  });

  it('explains when the API cannot be reached', async () => {
    const { submit } = setup('network');
    submit(makeJwt({ sub: 'ana' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Could not reach the EventFlow API/);
  });

  it('shows the notice it was given, with focus on the token field it describes', () => {
    render(<SignIn baseUrl="" notice="Your session has expired." onSignedIn={() => {}} />);
    expect(screen.getByRole('alert').textContent).toBe('Your session has expired.');
    const field = screen.getByLabelText('Access token');
    expect(document.activeElement).toBe(field);
    expect(field.getAttribute('aria-describedby')).toBe('signin-message');
  });

  it('keeps the focused button focusable while the token is checked, and ignores a second press', async () => {
    let answer: (r: Response) => void = () => {};
    const fetchFn = vi.fn(() => new Promise<Response>((resolve) => (answer = resolve))) as unknown as typeof fetch;
    render(<SignIn baseUrl="" onSignedIn={() => {}} fetchFn={fetchFn} />);
    fireEvent.change(screen.getByLabelText('Access token'), { target: { value: makeJwt({ sub: 'ana' }) } });
    const button = screen.getByRole('button', { name: 'Sign in' });
    button.focus();
    fireEvent.click(button);
    const checking = await screen.findByRole('button', { name: 'Checking token…' });
    expect(checking).toBe(button);
    expect(checking).toHaveProperty('disabled', false);
    expect(checking.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(checking);
    fireEvent.click(checking);
    expect(fetchFn).toHaveBeenCalledTimes(1);
    answer(new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'no' } }), { status: 401 }));
    await screen.findByRole('alert');
  });
});
