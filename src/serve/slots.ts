/**
 * A counting semaphore with a bounded wait: at most `size` holders at once; the others wait in arrival
 * order, each up to its own time limit, and are told no when it passes (or when they give up).
 */
export class Slots {
  private used = 0;
  private readonly waiting: Array<(granted: boolean) => void> = [];

  constructor(readonly size: number) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * Resolves with a release function once a slot is free, or with null after `waitMs` or when `signal`
   * aborts. The release function is idempotent.
   */
  acquire(waitMs: number, signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return Promise.resolve(null);
    if (this.used < this.size) return Promise.resolve(this.grant());
    return new Promise((resolve) => {
      const answer = (granted: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", giveUp);
        resolve(granted ? this.grant() : null);
      };
      const giveUp = () => {
        const at = this.waiting.indexOf(answer);
        if (at >= 0) this.waiting.splice(at, 1);
        answer(false);
      };
      const timer = setTimeout(giveUp, waitMs);
      signal?.addEventListener("abort", giveUp, { once: true });
      this.waiting.push(answer);
    });
  }

  private grant(): () => void {
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      // The freed slot goes to the first in line, if any.
      this.waiting.shift()?.(true);
    };
  }
}
