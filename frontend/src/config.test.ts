import { afterEach, describe, expect, it } from 'vitest';
import { apiBaseUrl, normalizeBaseUrl, resolveApiBaseUrl } from './config';

describe('API base URL', () => {
  afterEach(() => {
    delete window.EVENTFLOW_CONFIG;
  });

  it('defaults to same origin', () => {
    expect(resolveApiBaseUrl(undefined, undefined)).toBe('');
    expect(apiBaseUrl()).toBe('');
  });

  it('prefers run-time config over build-time config', () => {
    expect(resolveApiBaseUrl({ apiBaseUrl: 'https://run.example/' }, 'https://build.example')).toBe('https://run.example');
    expect(resolveApiBaseUrl({ apiBaseUrl: '' }, 'https://build.example/')).toBe('https://build.example');
    expect(resolveApiBaseUrl({}, undefined)).toBe('');
  });

  it('reads window.EVENTFLOW_CONFIG', () => {
    window.EVENTFLOW_CONFIG = { apiBaseUrl: 'https://api.example.test//' };
    expect(apiBaseUrl()).toBe('https://api.example.test');
  });

  it('trims whitespace and trailing slashes', () => {
    expect(normalizeBaseUrl('  https://x.test/ ')).toBe('https://x.test');
    expect(normalizeBaseUrl(null)).toBe('');
  });
});
