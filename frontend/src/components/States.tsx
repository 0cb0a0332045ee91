import type { ReactNode, Ref } from 'react';
import { describeError } from '../api/client';

export function LoadingState({ label }: { label: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state state-empty" data-testid="empty-state">
      <svg className="state-icon" viewBox="0 0 24 24" aria-hidden="true">
        <path d="M4 13h4l2 3h4l2-3h4M4 13l3-8h10l3 8v6H4z" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" />
      </svg>
      <p className="state-title">{title}</p>
      {children ? <div className="state-hint">{children}</div> : null}
    </div>
  );
}

/**
 * A view that could not load. Not a live region itself: when two panels fail for one reason the
 * dashboard announces it once (its one alert, in App.tsx).
 */
export function ErrorState({
  error,
  onRetry,
  title = 'Could not load this view',
  retryRef,
}: {
  error: unknown;
  onRetry?: () => void;
  title?: string;
  /** Lets a panel move focus to "Try again" when a load the user asked for fails. */
  retryRef?: Ref<HTMLButtonElement>;
}) {
  return (
    <div className="state state-error" data-testid="error-state">
      <p className="state-title">{title}</p>
      <p className="state-hint">{describeError(error)}</p>
      {onRetry ? (
        <button ref={retryRef} type="button" className="btn btn-secondary" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
