import { describe, expect, it } from 'vitest';
import {
  formatBucketLabel,
  formatCompact,
  formatCount,
  formatRelative,
  formatTimestamp,
  prettyJson,
  previewProperties,
  shortSha,
} from './format';

describe('formatTimestamp', () => {
  it('formats an RFC 3339 instant in the given zone', () => {
    expect(formatTimestamp('2024-05-01T12:03:09Z', 'UTC')).toBe('2024-05-01 12:03:09');
    expect(formatTimestamp('2024-05-01T12:03:09Z', 'Asia/Tokyo')).toBe('2024-05-01 21:03:09');
    expect(formatTimestamp('2024-12-31T23:59:59-01:00', 'UTC')).toBe('2025-01-01 00:59:59');
  });

  it('returns what it was given when that is not a date', () => {
    expect(formatTimestamp('not a date', 'UTC')).toBe('not a date');
  });
});

describe('formatBucketLabel', () => {
  const d = new Date('2024-05-01T14:05:00Z');
  it('shows hours and minutes, with the day for long hour ranges', () => {
    expect(formatBucketLabel(d, 'minute', false, 'UTC')).toBe('14:05');
    expect(formatBucketLabel(d, 'hour', false, 'UTC')).toBe('14:05');
    expect(formatBucketLabel(d, 'hour', true, 'UTC')).toBe('May 1 14:05');
  });
});

describe('formatRelative', () => {
  const now = new Date('2024-05-01T12:00:00Z');
  it.each([
    ['2024-05-01T12:00:00Z', 'just now'],
    ['2024-05-01T12:00:30Z', 'just now'],
    ['2024-05-01T11:59:18Z', '42 s ago'],
    ['2024-05-01T11:55:00Z', '5 min ago'],
    ['2024-05-01T09:00:00Z', '3 h ago'],
    ['2024-04-28T12:00:00Z', '3 d ago'],
  ])('%s → %s', (value, expected) => {
    expect(formatRelative(value, now)).toBe(expected);
  });
  it('is empty for invalid input', () => {
    expect(formatRelative('nope', now)).toBe('');
  });
});

describe('numbers', () => {
  it('separates thousands', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(0)).toBe('0');
  });
  it('shortens axis values', () => {
    expect(formatCompact(950)).toBe('950');
    expect(formatCompact(1200)).toBe('1.2K');
    expect(formatCompact(3_400_000)).toBe('3.4M');
  });
});

describe('shortSha', () => {
  it('shortens hex shas and keeps other labels', () => {
    expect(shortSha('0123456789abcdef0123456789abcdef01234567')).toBe('0123456');
    expect(shortSha('dev')).toBe('dev');
    expect(shortSha('')).toBe('unknown');
    expect(shortSha(undefined)).toBe('unknown');
  });
});

describe('previewProperties', () => {
  it('sums up scalars and nests', () => {
    expect(previewProperties({ plan: 'pro', seats: 3, trial: false, tags: ['a', 'b'], meta: { a: 1 }, none: null })).toBe(
      'plan: "pro", seats: 3, trial: false, tags: [2], meta: {…}, none: null',
    );
  });
  it('cuts long previews with an ellipsis', () => {
    const text = previewProperties({ text: 'x'.repeat(200) }, 20);
    expect(text).toHaveLength(20);
    expect(text.endsWith('…')).toBe(true);
  });
  it('is empty without properties', () => {
    expect(previewProperties(null)).toBe('');
    expect(previewProperties({})).toBe('');
  });
  it('pretty-prints JSON', () => {
    expect(prettyJson({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
  });
});
