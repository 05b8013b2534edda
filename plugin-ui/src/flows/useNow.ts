import { useEffect, useState } from 'react';

/**
 * The current time, refreshed every `intervalMs`, for "… ago" columns and countdowns (no network
 * involved). A new interval starts from the time it is then: a countdown appearing on a page open
 * for a while must not show the time the page was opened.
 */
export const useNow = (intervalMs = 10_000): number => {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const tick = () => {
      setNow(Date.now());
    };
    const first = setTimeout(tick, 0);
    const timer = setInterval(tick, intervalMs);
    return () => {
      clearTimeout(first);
      clearInterval(timer);
    };
  }, [intervalMs]);
  return now;
};
