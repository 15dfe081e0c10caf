/** What a process holds now, from /proc: for tests that bound a receiver process's memory and descriptors. */
import { readdirSync, readFileSync } from 'node:fs';

/** Resident set size in bytes. */
export const rssBytes = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** Open file descriptors (sockets included). */
export const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
