import type { Bucket, StatsBucket } from '../api/types';
import { BUCKET_MS, floorTo } from './time';

export const OTHER_SERIES = 'Other';

export interface Series {
  name: string;
  total: number;
  /** One count per slot. */
  counts: number[];
}

export interface ChartData {
  bucket: Bucket;
  /** Start of every bucket in the window, oldest first. */
  slots: Date[];
  series: Series[];
  /** The tallest stacked bar. */
  max: number;
  total: number;
  /** Distinct event names, before any were folded into "Other". */
  nameCount: number;
}

/**
 * Lay the API's sparse buckets out on a dense time axis from `from` to `to`, one series per
 * event name (largest first). Names past `maxSeries - 1` are summed into "Other".
 * With `nameFilter`, only that exact name is kept.
 */
export function buildChartData(
  buckets: StatsBucket[],
  range: { from: Date; to: Date },
  bucket: Bucket,
  options: { nameFilter?: string; maxSeries?: number } = {},
): ChartData {
  const size = BUCKET_MS[bucket];
  const first = floorTo(range.from, bucket).getTime();
  const last = floorTo(range.to, bucket).getTime();
  const slotCount = Math.max(1, Math.floor((last - first) / size) + 1);
  const slots = Array.from({ length: slotCount }, (_, i) => new Date(first + i * size));

  const filter = options.nameFilter?.trim();
  const byName = new Map<string, number[]>();
  for (const b of buckets) {
    if (filter && b.name !== filter) continue;
    const start = new Date(b.start).getTime();
    if (Number.isNaN(start)) continue;
    const index = Math.floor((start - first) / size);
    if (index < 0 || index >= slotCount) continue;
    let counts = byName.get(b.name);
    if (!counts) {
      counts = new Array<number>(slotCount).fill(0);
      byName.set(b.name, counts);
    }
    counts[index] = (counts[index] ?? 0) + b.count;
  }

  const all: Series[] = [...byName.entries()]
    .map(([name, counts]) => ({ name, counts, total: counts.reduce((a, c) => a + c, 0) }))
    .sort((a, b) => b.total - a.total || a.name.localeCompare(b.name));

  const maxSeries = Math.max(1, options.maxSeries ?? 8);
  let series = all;
  if (all.length > maxSeries) {
    const kept = all.slice(0, maxSeries - 1);
    const rest = all.slice(maxSeries - 1);
    const counts = slots.map((_, i) => rest.reduce((sum, s) => sum + (s.counts[i] ?? 0), 0));
    series = [...kept, { name: OTHER_SERIES, counts, total: counts.reduce((a, c) => a + c, 0) }];
  }

  const stacked = slots.map((_, i) => series.reduce((sum, s) => sum + (s.counts[i] ?? 0), 0));
  return {
    bucket,
    slots,
    series,
    max: Math.max(0, ...stacked),
    total: stacked.reduce((a, c) => a + c, 0),
    nameCount: all.length,
  };
}

/** Round axis ticks from 0 to at least `max`: steps of 1, 2 or 5 × 10^n. */
export function niceTicks(max: number, target = 4): number[] {
  if (max <= 0) return [0, 1];
  const raw = max / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const wholeStep = Math.max(1, step);
  const ticks: number[] = [];
  for (let v = 0; v < max + wholeStep; v += wholeStep) {
    ticks.push(v);
    if (v >= max) break;
  }
  return ticks;
}

/** A palette that stays readable on white; "Other" is always grey. */
const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#ec4899', '#14b8a6'];

export function seriesColor(name: string, index: number): string {
  if (name === OTHER_SERIES) return '#94a3b8';
  return PALETTE[index % PALETTE.length] as string;
}
