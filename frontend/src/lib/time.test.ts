import { describe, expect, it } from 'vitest';
import { bucketAllowed, defaultBucket, floorTo, fromLocalInput, presetRange, toLocalInput } from './time';

const now = new Date('2024-05-01T12:34:56Z');

describe('time ranges', () => {
  it('computes preset windows ending now', () => {
    expect(presetRange('15m', now).from.toISOString()).toBe('2024-05-01T12:19:56.000Z');
    expect(presetRange('7d', now).from.toISOString()).toBe('2024-04-24T12:34:56.000Z');
    expect(presetRange('1h', now).to).toBe(now);
  });

  it('uses minute buckets up to 6 hours and hour buckets beyond', () => {
    expect(defaultBucket(presetRange('6h', now))).toBe('minute');
    expect(defaultBucket(presetRange('24h', now))).toBe('hour');
    expect(bucketAllowed('minute', presetRange('7d', now))).toBe(false);
    expect(bucketAllowed('hour', presetRange('7d', now))).toBe(true);
  });

  it('floors to bucket starts', () => {
    expect(floorTo(now, 'minute').toISOString()).toBe('2024-05-01T12:34:00.000Z');
    expect(floorTo(now, 'hour').toISOString()).toBe('2024-05-01T12:00:00.000Z');
  });

  it('round-trips datetime-local values', () => {
    const local = new Date(2024, 4, 1, 9, 5);
    expect(toLocalInput(local)).toBe('2024-05-01T09:05');
    expect(fromLocalInput('2024-05-01T09:05')?.getTime()).toBe(local.getTime());
    expect(fromLocalInput('')).toBeNull();
    expect(fromLocalInput('nonsense')).toBeNull();
  });
});
