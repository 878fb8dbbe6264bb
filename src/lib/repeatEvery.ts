/**
 * Runs `run` every `everyMs`, each run starting `everyMs` after the previous one settled (never two
 * at once, however long one takes); a failed run goes to `onError` and the next one comes as
 * usual. `stop()` cancels the next run and waits for the one in progress.
 */
export function repeatEvery(everyMs: number, run: () => Promise<unknown>, onError: (e: unknown) => void): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout;
  const tick = () => {
    if (stopped) return;
    running = run()
      .catch(onError)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, everyMs);
      });
  };
  timer = setTimeout(tick, everyMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
