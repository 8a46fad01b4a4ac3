// Live data: fetch now, then again every few seconds while the page is visible, so pages
// follow the simulated stream as it advances.

import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./api";

export interface Polled<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Run ``load`` now and every ``intervalMs`` (0: once), re-running when ``deps`` change. */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], intervalMs = 5000): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    let cancelled = false;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await loadRef.current(controller.signal);
        if (!cancelled) {
          setData(value);
          setError(null);
        }
      } catch (caught) {
        if (cancelled || (caught as Error).name === "AbortError") return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, String(caught)));
      } finally {
        if (!cancelled) {
          setLoading(false);
          if (intervalMs > 0) timer = setTimeout(run, document.hidden ? intervalMs * 4 : intervalMs);
        }
      }
    };
    setLoading(true);
    run();
    return () => {
      cancelled = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, intervalMs]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
