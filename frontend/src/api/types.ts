export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface EventRecord {
  id: string;
  name: string;
  timestamp: string;
  user_id: string | null;
  properties: Record<string, JsonValue> | null;
  received_at: string;
}

export interface EventPage {
  events: EventRecord[];
  next_cursor: string | null;
}

export type Bucket = 'minute' | 'hour';

export interface StatsBucket {
  start: string;
  name: string;
  count: number;
}

export interface Stats {
  bucket: Bucket;
  buckets: StatsBucket[];
}

export interface Health {
  status: string;
  version?: string;
  git_sha?: string;
  database?: string;
  migration_version?: number;
}

export interface EventQuery {
  name?: string;
  from?: Date | string;
  to?: Date | string;
  limit?: number;
  cursor?: string | null;
}

export interface StatsQuery {
  from?: Date | string;
  to?: Date | string;
  bucket?: Bucket;
}
