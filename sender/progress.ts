/**
 * Progress as plain lines for a serial console (no TTY tricks): percent,
 * throughput and ETA every few seconds. Clock and output are injected so a
 * test can drive it.
 */
export interface ProgressReporter {
  update(chunksDone: number, chunksTotal: number, bytesSent: number): void;
  finish(bytesSent: number): void;
}

const MB = 1e6;

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

export class LineProgress implements ProgressReporter {
  private readonly started: number;
  private lastPrinted: number;

  constructor(
    private readonly write: (line: string) => void,
    private readonly intervalMs = 3000,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
    this.lastPrinted = this.started;
  }

  update(chunksDone: number, chunksTotal: number, bytesSent: number): void {
    const t = this.now();
    if (t - this.lastPrinted < this.intervalMs) return;
    this.lastPrinted = t;
    const seconds = (t - this.started) / 1000;
    const fraction = chunksTotal === 0 ? 1 : chunksDone / chunksTotal;
    const rate = bytesSent / MB / Math.max(seconds, 1e-3);
    const eta = fraction > 0 ? (seconds / fraction) * (1 - fraction) : Infinity;
    this.write(
      `kdump-send: ${(fraction * 100).toFixed(0)}% (${chunksDone}/${chunksTotal} chunks), ` +
        `${(bytesSent / MB).toFixed(1)} MB sent, ${rate.toFixed(1)} MB/s, ETA ${formatEta(eta)}`,
    );
  }

  finish(bytesSent: number): void {
    const seconds = (this.now() - this.started) / 1000;
    this.write(`kdump-send: 100%, ${(bytesSent / MB).toFixed(1)} MB sent in ${seconds.toFixed(1)} s`);
  }
}
