import { useCallback, useEffect, useRef, useState } from 'react';

export type AsyncState<T> =
  | { status: 'idle'; data?: undefined; error?: undefined }
  | { status: 'loading'; data?: T; error?: undefined }
  | { status: 'success'; data: T; error?: undefined }
  | { status: 'error'; data?: T; error: unknown };

interface Settled<T> {
  key: string;
  data?: T;
  error?: unknown;
  failed: boolean;
}

/**
 * Run `load` whenever `key` changes (null: don't run) and expose loading / success / error.
 * While a new key loads, `data` still holds the last successful result so a view can dim it
 * instead of flashing empty. Responses for an outdated key are dropped and the request aborted.
 */
export function useAsync<T>(
  key: string | null,
  load: (signal: AbortSignal) => Promise<T>,
): AsyncState<T> & { reload: () => void } {
  const [nonce, setNonce] = useState(0);
  const [settled, setSettled] = useState<Settled<T> | null>(null);
  const [lastData, setLastData] = useState<T | undefined>(undefined);
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });

  const requestKey = key === null ? null : `${key}#${nonce}`;

  useEffect(() => {
    if (requestKey === null) return;
    const controller = new AbortController();
    loadRef.current(controller.signal).then(
      (data) => {
        if (controller.signal.aborted) return;
        setSettled({ key: requestKey, data, failed: false });
        setLastData(data);
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        setSettled({ key: requestKey, error, failed: true });
      },
    );
    return () => controller.abort();
  }, [requestKey]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);

  if (requestKey === null) return { status: 'idle', reload };
  if (!settled || settled.key !== requestKey) return { status: 'loading', data: lastData, reload };
  if (settled.failed) return { status: 'error', error: settled.error, data: lastData, reload };
  return { status: 'success', data: settled.data as T, reload };
}
