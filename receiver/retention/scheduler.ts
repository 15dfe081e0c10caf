/**
 * Runs retention every intervalMs and soon after each stored dump (nudge()).
 * Never two passes at once: a nudge during a pass asks for one more pass
 * after it, and any number of such nudges still make one pass, because a
 * pass looks at the whole catalog anyway. A failing pass is logged, never
 * thrown: retention must not take the receiver down.
 */
import type { Logger } from 'pino';
import { toNetdumpError } from '../../shared/errors.js';

export interface RetentionSchedulerOptions {
  intervalMs: number;
  /** One pass, e.g. () => runRetention(policy, deps). */
  run: () => Promise<unknown>;
  logger: Logger;
}

export class RetentionScheduler {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: RetentionSchedulerOptions) {
    if (!(options.intervalMs > 0)) throw new RangeError(`retention interval must be positive, not ${options.intervalMs}`);
  }

  /** Starts the timer and a first pass now (a restart is a good time to catch up). */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.nudge(), this.options.intervalMs);
    // The timer alone must not keep the process alive.
    this.timer.unref();
    this.nudge();
  }

  /** Asks for a pass soon; returns at once. */
  nudge(): void {
    if (this.stopped) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.loop();
  }

  /** Resolves when no pass is running (the one running now, and one asked for during it). */
  async idle(): Promise<void> {
    while (this.pass) await this.pass;
  }

  /** No more passes; waits for the one running, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  private async loop(): Promise<void> {
    // Awaited once first so that nudge() never runs a pass synchronously.
    await Promise.resolve();
    do {
      this.again = false;
      try {
        await this.options.run();
      } catch (error) {
        const failure = toNetdumpError(error);
        this.options.logger.error({ code: failure.code, err: failure.message }, 'retention pass failed');
      }
    } while (this.again && !this.stopped);
    this.pass = undefined;
  }
}
