/**
 * Prometheus metrics of one receiver. Counters are bumped where things
 * happen (sessions, triage, webhook); gauges that mirror state (uploads in
 * flight, stored dumps, free disk) are read when scraped, so they can never
 * drift from the catalog and the registry. One prom-client Registry per
 * receiver: tests run several receivers in one process.
 */
import { statfs } from 'node:fs/promises';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DumpStatus } from './catalog/catalog.js';

export interface MetricsSources {
  dataDir: string;
  uploadsInFlight(): number;
  dumpsByStatus(): Promise<Record<DumpStatus, { count: number; bytes: number }>>;
}

export class ReceiverMetrics {
  readonly registry = new Registry();
  readonly bytesReceived: Counter;
  readonly chunksReceived: Counter<'form'>;
  readonly dumpsStored: Counter;
  readonly dumpsStoredLowered: Counter;
  readonly uploadFailures: Counter<'code'>;
  readonly probes: Counter<'outcome'>;
  readonly triageRuns: Counter<'outcome'>;
  readonly logsReceived: Counter;
  readonly dumpsPartial: Counter<'reason'>;
  readonly webhookDeliveries: Counter<'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'kdump_receiver_' });
    this.bytesReceived = new Counter({
      name: 'kdump_receiver_bytes_received_total', help: 'Bytes of upload frames received (compressed, as on the wire)', registers,
    });
    this.chunksReceived = new Counter({
      name: 'kdump_receiver_chunks_received_total',
      help: 'Chunks verified and written, by the form their pages came in: stored (compressed by the sender as stored), lz4 or raw (compressed here)',
      labelNames: ['form'], registers,
    });
    this.dumpsStored = new Counter({ name: 'kdump_receiver_dumps_stored_total', help: 'Dumps completed and verified by this process', registers });
    this.dumpsStoredLowered = new Counter({
      name: 'kdump_receiver_dumps_stored_level_lowered_total',
      help: 'Dumps stored by this process whose sender applied a lower dump level than asked (bigger than planned; the dump\'s notes say why)',
      registers,
    });
    this.uploadFailures = new Counter({
      name: 'kdump_receiver_upload_failures_total', help: 'Uploads ended by an error, by error code (AUTH, CORRUPT, LIMIT, ...)',
      labelNames: ['code'], registers,
    });
    this.probes = new Counter({
      name: 'kdump_receiver_probes_total', help: 'Preflight probes (kdump-send --check), by outcome: ok or the error code of the refusal',
      labelNames: ['outcome'], registers,
    });
    this.triageRuns = new Counter({
      name: 'kdump_receiver_triage_total', help: 'Kernel-log extractions from stored dumps, by outcome', labelNames: ['outcome'], registers,
    });
    this.logsReceived = new Counter({
      name: 'kdump_receiver_logs_received_total', help: 'Kernel logs senders sent ahead of the pages (LOG), checked and triaged', registers,
    });
    this.dumpsPartial = new Counter({
      name: 'kdump_receiver_dumps_partial_total', help: 'Dumps kept partial by this process, by reason (log-only, storm, abandoned)',
      labelNames: ['reason'], registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'kdump_receiver_webhook_deliveries_total', help: 'Webhook notifications, by outcome', labelNames: ['outcome'], registers,
    });
    new Gauge({
      name: 'kdump_receiver_uploads_in_flight', help: 'Uploads attached to a connection now', registers,
      collect() { this.set(sources.uploadsInFlight()); },
    });
    new Gauge({
      name: 'kdump_receiver_dumps', help: 'Dumps in the catalog, by status', labelNames: ['status'], registers,
      async collect() {
        for (const [status, { count }] of Object.entries(await sources.dumpsByStatus())) this.set({ status }, count);
      },
    });
    new Gauge({
      name: 'kdump_receiver_dump_bytes', help: 'Bytes of stored dump files in the catalog, by status', labelNames: ['status'], registers,
      async collect() {
        for (const [status, { bytes }] of Object.entries(await sources.dumpsByStatus())) this.set({ status }, bytes);
      },
    });
    new Gauge({
      name: 'kdump_receiver_disk_free_bytes', help: 'Free bytes on the data directory\'s filesystem (for unprivileged users)', registers,
      async collect() {
        const stats = await statfs(sources.dataDir);
        this.set(stats.bavail * stats.bsize);
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
