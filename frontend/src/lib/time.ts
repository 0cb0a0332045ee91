import type { Bucket } from '../api/types';

export type RangePreset = '15m' | '1h' | '6h' | '24h' | '7d' | 'custom';

export const PRESETS: { id: Exclude<RangePreset, 'custom'>; label: string; ms: number }[] = [
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { id: '1h', label: 'Last hour', ms: 60 * 60_000 },
  { id: '6h', label: 'Last 6 hours', ms: 6 * 60 * 60_000 },
  { id: '24h', label: 'Last 24 hours', ms: 24 * 60 * 60_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 24 * 60 * 60_000 },
];

export const BUCKET_MS: Record<Bucket, number> = { minute: 60_000, hour: 3_600_000 };

/** Minute buckets beyond this many would be too thin to read. */
export const MAX_BUCKETS = 360;

export interface TimeRange {
  from: Date;
  to: Date;
}

/** The window of a preset ending at `now`. */
export function presetRange(preset: Exclude<RangePreset, 'custom'>, now: Date = new Date()): TimeRange {
  const found = PRESETS.find((p) => p.id === preset);
  const ms = found ? found.ms : 3_600_000;
  return { from: new Date(now.getTime() - ms), to: now };
}

/** The finer bucket that still fits the chart. */
export function defaultBucket(range: TimeRange): Bucket {
  return bucketAllowed('minute', range) ? 'minute' : 'hour';
}

export function bucketAllowed(bucket: Bucket, range: TimeRange): boolean {
  return (range.to.getTime() - range.from.getTime()) / BUCKET_MS[bucket] <= MAX_BUCKETS;
}

export function floorTo(date: Date, bucket: Bucket): Date {
  const size = BUCKET_MS[bucket];
  return new Date(Math.floor(date.getTime() / size) * size);
}

/** Value for an `<input type="datetime-local">` in the browser's time zone. */
export function toLocalInput(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Parse an `<input type="datetime-local">` value (local time); null when empty or invalid. */
export function fromLocalInput(value: string): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
