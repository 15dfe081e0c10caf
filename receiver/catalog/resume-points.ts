/**
 * Where an unfinished upload stands, so a receiver (this one after a
 * restart, or another sharing the database) can continue it: the dump row's
 * progress and storage_state, and the checksums of its durable chunks in
 * dump_chunk_crcs (runs of 4-byte little-endian CRCs keyed by first_seq).
 * Invariants: the row never points past checksums that are stored (they are
 * written first); a resume point is offered only when the checksums cover
 * every chunk below nextSeq, never a partial one; forget runs whenever the
 * upload ends or starts over.
 */
import type { ProgressUpdate } from './records.js';
import type { SqlDriver } from './sql/driver.js';

export class ResumePoints {
  constructor(private readonly db: SqlDriver) {}

  /**
   * Records a durable checkpoint: the checksums of chunks [firstSeq, p.nextSeq),
   * then the progress and the storage writer's state. A crash between leaves
   * extra checksums nobody reads (the next checkpoint from the same seq
   * replaces them).
   */
  async save(dumpId: string, p: ProgressUpdate, resume: { firstSeq: number; crcs: Buffer; storageState: string }): Promise<void> {
    if (resume.crcs.length > 0) {
      await this.db.run(`INSERT INTO dump_chunk_crcs (dump_id, first_seq, crcs) VALUES (?, ?, ?)
        ON CONFLICT (dump_id, first_seq) DO UPDATE SET crcs = excluded.crcs`, [dumpId, resume.firstSeq, resume.crcs]);
    }
    await this.db.run(`UPDATE dumps SET next_seq = ?, data_end = ?, bytes_in = ?, bytes_stored = ?, pages_zero = ?, pages_stored = ?,
      storage_state = ?, checkpoint_at = ? WHERE dump_id = ?`,
    [p.nextSeq, p.dataEnd, p.bytesIn, p.bytesStored, p.pagesZero, p.pagesStored, resume.storageState, Date.now(), dumpId]);
  }

  /**
   * What a receiver needs to continue an upload: the storage writer's state
   * and the checksums of chunks [0, nextSeq). Undefined when there is no
   * state, or the checksums do not cover nextSeq chunks (then start over).
   */
  async get(dumpId: string, nextSeq: number): Promise<{ storageState: string; crcs: Buffer } | undefined> {
    const storageState = await this.storageState(dumpId);
    if (!storageState) return undefined;
    const rows = await this.db.all<{ first_seq: number; crcs: Buffer }>(
      'SELECT first_seq, crcs FROM dump_chunk_crcs WHERE dump_id = ? AND first_seq < ? ORDER BY first_seq', [dumpId, nextSeq]);
    const crcs = Buffer.alloc(nextSeq * 4);
    let covered = 0;
    for (const r of rows) {
      const first = Number(r.first_seq);
      // Rows are contiguous runs; one that starts past what is covered leaves a gap.
      if (first > covered) return undefined;
      const bytes = Buffer.from(r.crcs).subarray(0, (nextSeq - first) * 4);
      bytes.copy(crcs, first * 4);
      covered = Math.max(covered, first + bytes.length / 4);
    }
    return covered >= nextSeq ? { storageState, crcs } : undefined;
  }

  /** The storage writer state of an unfinished dump (to drop what it left in the store), if any. */
  async storageState(dumpId: string): Promise<string | undefined> {
    const row = await this.db.get<{ storage_state: string | null }>('SELECT storage_state FROM dumps WHERE dump_id = ?', [dumpId]);
    return row?.storage_state ?? undefined;
  }

  /** Drops a dump's chunk checksums: its upload ended, started over or the dump is gone. */
  async forget(dumpId: string): Promise<void> {
    await this.db.run('DELETE FROM dump_chunk_crcs WHERE dump_id = ?', [dumpId]);
  }
}
