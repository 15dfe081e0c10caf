import { describe, expect, it } from 'vitest';
import { availableMemory, DEFAULT_PLAN, planMemory } from '../../sender/memory-budget.js';

const meminfo = (availableKb?: number, freeKb = 50_000) =>
  ['MemTotal:         151200 kB', `MemFree:          ${freeKb} kB`, ...(availableKb === undefined ? [] : [`MemAvailable:     ${availableKb} kB`]), 'Buffers:               0 kB', ''].join('\n');

describe('memory budget of the sender', () => {
  it('reads MemAvailable, or MemFree where the kernel has no MemAvailable', () => {
    expect(availableMemory(meminfo(90_000))).toBe(90_000 * 1024);
    expect(availableMemory(meminfo(undefined, 70_000))).toBe(70_000 * 1024);
    expect(availableMemory('')).toBeUndefined();
  });

  it('steps down chunk size and frames in flight as memory gets scarce, and says so', () => {
    expect(planMemory(512 * 2 ** 20)).toMatchObject({ ...DEFAULT_PLAN, line: 'memory: 512 MiB available; 4 chunks of 256 pages in flight' });
    expect(planMemory(100 * 2 ** 20)).toMatchObject({ chunkPages: 32, framesInFlight: 2 });
    const low = planMemory(40 * 2 ** 20);
    expect(low).toMatchObject({ chunkPages: 16, framesInFlight: 1 });
    expect(low.line).toBe('memory: 40 MiB available; 1 chunk of 16 pages in flight (low: smaller chunks, fewer in flight)');
    expect(planMemory(undefined)).toMatchObject({ ...DEFAULT_PLAN, line: expect.stringMatching(/no MemAvailable/) });
  });

  it('keeps a chunk size the operator chose; only the frames follow the memory', () => {
    expect(planMemory(40 * 2 ** 20, 128)).toMatchObject({ chunkPages: 128, framesInFlight: 1 });
    expect(planMemory(512 * 2 ** 20, 8)).toMatchObject({ chunkPages: 8, framesInFlight: 4 });
  });
});
