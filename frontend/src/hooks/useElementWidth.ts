import { useEffect, useRef, useState } from 'react';
import type { RefObject } from 'react';

/**
 * The rendered width of an element in CSS pixels, kept current with a ResizeObserver. Until it
 * is measured (or where ResizeObserver is missing, as in jsdom) it is `fallback`.
 */
export function useElementWidth<T extends Element>(fallback: number): [RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(([entry]) => {
      const measured = Math.round(entry?.contentRect.width ?? 0);
      if (measured > 0) setWidth(measured);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}
