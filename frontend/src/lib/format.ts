import type { JsonValue } from '../api/types';

const pad = (n: number): string => String(n).padStart(2, '0');

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** Calendar parts of an instant in a time zone (the browser's when omitted). */
function partsOf(date: Date, timeZone?: string): Parts {
  if (!timeZone) {
    return {
      year: date.getFullYear(),
      month: date.getMonth() + 1,
      day: date.getDate(),
      hour: date.getHours(),
      minute: date.getMinutes(),
      second: date.getSeconds(),
    };
  }
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const get = (type: string): number => Number(fmt.formatToParts(date).find((p) => p.type === type)?.value ?? 0);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

function toDate(value: string | Date): Date | null {
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** `2024-05-01 14:03:09`, or the input unchanged when it is not a date. */
export function formatTimestamp(value: string | Date, timeZone?: string): string {
  const date = toDate(value);
  if (!date) return String(value);
  const p = partsOf(date, timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** An axis label for a bucket start: `14:05` for minutes, `May 1 14:00` or `14:00` for hours. */
export function formatBucketLabel(value: Date, bucket: 'minute' | 'hour', showDay: boolean, timeZone?: string): string {
  const p = partsOf(value, timeZone);
  const time = `${pad(p.hour)}:${pad(p.minute)}`;
  if (bucket === 'hour' && showDay) {
    const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][p.month - 1];
    return `${month} ${p.day} ${time}`;
  }
  return time;
}

/** `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago` (future instants read as `just now`). */
export function formatRelative(value: string | Date, now: Date = new Date()): string {
  const date = toDate(value);
  if (!date) return '';
  const seconds = Math.floor((now.getTime() - date.getTime()) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** Thousands separators, always en-US so the dashboard reads the same everywhere. */
export function formatCount(n: number): string {
  return new Intl.NumberFormat('en-US').format(n);
}

/** Short axis numbers: 950, 1.2k, 3.4M. */
export function formatCompact(n: number): string {
  if (Math.abs(n) < 1000) return String(n);
  return new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

/** The first 7 characters of a git sha; `unknown` when there is none. */
export function shortSha(sha: string | null | undefined): string {
  const trimmed = (sha ?? '').trim();
  if (!trimmed) return 'unknown';
  return /^[0-9a-f]{8,}$/i.test(trimmed) ? trimmed.slice(0, 7) : trimmed;
}

function scalar(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.length}]`;
  if (typeof value === 'object') return '{…}';
  return String(value);
}

/** One line summing up an event's properties: `plan: "pro", seats: 3`, cut at `max` characters. */
export function previewProperties(props: Record<string, JsonValue> | null | undefined, max = 80): string {
  if (!props) return '';
  const text = Object.entries(props)
    .map(([key, value]) => `${key}: ${scalar(value)}`)
    .join(', ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Properties as indented JSON for the detail view. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value ?? null, null, 2);
}

/** The browser's time zone name (e.g. `Europe/Berlin`), for labelling times. */
export function localTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  } catch {
    return 'local time';
  }
}
