import { useState } from 'react';
import type { FormEvent } from 'react';
import type { RangePreset } from '../lib/time';
import { PRESETS, fromLocalInput } from '../lib/time';

export interface Filters {
  name: string;
  preset: RangePreset;
  /** datetime-local values, used when preset is "custom". */
  customFrom: string;
  customTo: string;
}

export interface FilterBarProps {
  value: Filters;
  onApply: (filters: Filters) => void;
  onRefresh: () => void;
}

/** Returns why a custom range can't be used, or null. */
export function validateFilters(filters: Filters): string | null {
  if (filters.preset !== 'custom') return null;
  const from = fromLocalInput(filters.customFrom);
  const to = fromLocalInput(filters.customTo);
  if (!from || !to) return 'Choose both a start and an end time.';
  if (from.getTime() >= to.getTime()) return 'The start must be before the end.';
  return null;
}

export function FilterBar({ value, onApply, onRefresh }: FilterBarProps) {
  const [draft, setDraft] = useState(value);
  const [error, setError] = useState<string | null>(null);

  function apply(next: Filters) {
    const problem = validateFilters(next);
    setError(problem);
    if (!problem) onApply({ ...next, name: next.name.trim() });
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    apply(draft);
  }

  return (
    <form className="filters" onSubmit={submit} aria-label="Filters">
      <div className="field">
        <label htmlFor="filter-name" className="field-label">
          Event name
        </label>
        <input
          id="filter-name"
          className="input"
          type="search"
          placeholder="All event names"
          value={draft.name}
          onChange={(e) => setDraft({ ...draft, name: e.target.value })}
        />
      </div>
      <div className="field">
        <label htmlFor="filter-range" className="field-label">
          Time range
        </label>
        <select
          id="filter-range"
          className="input"
          value={draft.preset}
          // Only the draft: arrow keys step through the options one change event at a time, so
          // loading on change would send a request per option passed. Apply (or Enter) loads.
          onChange={(e) => setDraft({ ...draft, preset: e.target.value as RangePreset })}
        >
          {PRESETS.map((p) => (
            <option key={p.id} value={p.id}>
              {p.label}
            </option>
          ))}
          <option value="custom">Custom range…</option>
        </select>
      </div>
      {draft.preset === 'custom' ? (
        <>
          <div className="field">
            <label htmlFor="filter-from" className="field-label">
              From
            </label>
            <input
              id="filter-from"
              className="input"
              type="datetime-local"
              value={draft.customFrom}
              onChange={(e) => setDraft({ ...draft, customFrom: e.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor="filter-to" className="field-label">
              To
            </label>
            <input
              id="filter-to"
              className="input"
              type="datetime-local"
              value={draft.customTo}
              onChange={(e) => setDraft({ ...draft, customTo: e.target.value })}
            />
          </div>
        </>
      ) : null}
      <div className="filters-actions">
        <button type="submit" className="btn btn-primary">
          Apply
        </button>
        <button type="button" className="btn btn-secondary" onClick={onRefresh} title="Reload with the latest events">
          Refresh
        </button>
      </div>
      {error ? (
        <p className="filters-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}
