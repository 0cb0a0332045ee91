import { describe, expect, it } from 'vitest';
import { cleanToken, clearToken, decodeClaims, loadToken, saveToken } from './session';
import { makeJwt } from '../test/helpers';

describe('token storage', () => {
  it('keeps the token in sessionStorage', () => {
    expect(loadToken()).toBeNull();
    saveToken('abc');
    expect(loadToken()).toBe('abc');
    expect(sessionStorage.getItem('eventflow.token')).toBe('abc');
    clearToken();
    expect(loadToken()).toBeNull();
  });
});

describe('cleanToken', () => {
  it('removes a Bearer prefix, quotes and whitespace', () => {
    expect(cleanToken('  Bearer aaa.bbb.ccc \n')).toBe('aaa.bbb.ccc');
    expect(cleanToken('"aaa.bbb\n.ccc"')).toBe('aaa.bbb.ccc');
  });
});

describe('decodeClaims', () => {
  it('reads sub, exp and role', () => {
    expect(decodeClaims(makeJwt({ sub: 'ana', exp: 1700000000, role: 'admin' }))).toEqual({
      sub: 'ana',
      exp: 1700000000,
      role: 'admin',
    });
  });

  it('reads UTF-8 claims', () => {
    expect(decodeClaims(makeJwt({ sub: 'zoë' }))?.sub).toBe('zoë');
  });

  it('ignores claims of the wrong type', () => {
    expect(decodeClaims(makeJwt({ sub: 1, exp: 'soon' }))).toEqual({ sub: undefined, exp: undefined, role: undefined });
  });

  it('rejects text that is not a JWT', () => {
    expect(decodeClaims('hello')).toBeNull();
    expect(decodeClaims('a..c')).toBeNull();
    expect(decodeClaims('a.!!!.c')).toBeNull();
    expect(decodeClaims(`a.${btoa('[1]')}.c`)).toBeNull();
  });
});
