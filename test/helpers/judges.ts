/**
 * Run a judge tool (crash, makedumpfile, drgn, vmcore-dmesg, or anything
 * else installed there) from the host or from one of the judge chroots of
 * scripts/judge-chroots.sh, through one interface.
 *
 * In a chroot the tool runs in a private mount namespace:
 *   unshare --mount --propagation private sh -c '
 *     mount --bind DIR R/DIR (for the cache root, the temp dir, and the given dirs);
 *     mount --bind /dev R/dev; mount -t proc proc R/proc;
 *     exec chroot R env -i PATH=... TOOL ARGS'
 * so every path is the same inside and outside (nothing to rewrite), /proc is
 * there (without it sid's makedumpfile spins at 100% CPU forever), and no
 * mount outlives the tool (the namespace goes with its last process). The
 * tool is the process run() started (exec all the way), so a timeout kills it.
 * Needs root (unshare, mount, chroot), as the fixtures do.
 */
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, run, type RunResult } from './cli.js';
import {
  CACHE_ROOT, JUDGES, MANIFEST,
  type FixtureGeneration, type Generation, type JudgeChoice, type JudgeSuite, type JudgeTool,
} from './real-fixtures.js';

export type { JudgeSuite, JudgeTool, JudgeChoice } from './real-fixtures.js';

export interface JudgeOptions {
  /** Text on the tool's stdin (crash reads its commands there; end with quit). */
  input?: string;
  timeoutMs?: number;
  /** More host directories to make visible at the same path in a chroot. */
  binds?: readonly string[];
}

/** The chroot directory of a suite, undefined for 'host' or when it was not made. */
export function chrootDir(suite: JudgeSuite): string | undefined {
  if (suite === 'host') return undefined;
  const dir = MANIFEST?.chroots[suite]?.dir;
  return dir && existsSync(path.join(dir, 'kdump-netdump-judge.json')) ? dir : undefined;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where a command is in a suite (host: the usual Debian directories), or undefined. */
export function judgePath(suite: JudgeSuite, tool: string): string | undefined {
  const root = suite === 'host' ? '/' : chrootDir(suite);
  if (root === undefined) return undefined;
  for (const dir of SYSTEM_PATH.split(':')) {
    const file = path.join(dir, tool);
    if (existsSync(path.join(root, file))) return file;
  }
  return undefined;
}

/** Whether a suite has a tool (host: installed; chroot: made and holding it). */
export function haveJudge(suite: JudgeSuite, tool: string): boolean {
  return judgePath(suite, tool) !== undefined;
}

/** The tool versions scripts/judge-chroots.sh found in a chroot (undefined for host or when absent). */
export function judgeVersions(suite: JudgeSuite) {
  return suite === 'host' ? undefined : MANIFEST?.chroots[suite]?.versions;
}

/** System directories never bound over (the chroot has its own). */
const SYSTEM_DIRS = ['/', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/etc', '/proc', '/sys', '/dev', '/run', '/var', '/boot'];
const covers = (dir: string, p: string) => p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

/** The host directories a chroot run makes visible: the cache root, the temp dir, the clone, the given ones, and the directory of every absolute path argument that exists. */
function bindsFor(args: readonly string[], extra: readonly string[]): string[] {
  const wanted = [CACHE_ROOT, tmpdir(), ROOT, ...extra];
  for (const arg of args) {
    if (!path.isAbsolute(arg) || !existsSync(arg)) continue;
    wanted.push(statSync(arg).isDirectory() ? arg : path.dirname(arg));
  }
  const dirs: string[] = [];
  for (const d of wanted.map((x) => path.resolve(x))) {
    if (!existsSync(d) || !statSync(d).isDirectory()) continue;
    if (SYSTEM_DIRS.some((s) => d === s || (s !== '/' && covers(s, d) && !covers('/var/tmp', d)))) continue;
    if (dirs.some((x) => covers(x, d))) continue;
    for (let i = dirs.length - 1; i >= 0; i--) if (covers(d, dirs[i])) dirs.splice(i, 1);
    dirs.push(d);
  }
  return dirs;
}

const IN_NAMESPACE = [
  'set -e',
  'R=$1; n=$2; shift 2',
  'while [ "$n" -gt 0 ]; do mkdir -p "$R$1"; mount --bind "$1" "$R$1"; n=$((n-1)); shift; done',
  'mount --bind /dev "$R/dev"',
  'mount -t proc proc "$R/proc"',
  `exec chroot "$R" /usr/bin/env -i PATH=${SYSTEM_PATH} HOME=/root LANG=C.UTF-8 TERM=dumb "$@"`,
].join('\n');

/** The command line that runs `tool args` in a suite (what runJudge spawns). */
export function judgeCommand(suite: JudgeSuite, tool: string, args: readonly string[], options: Pick<JudgeOptions, 'binds'> = {}): { command: string; args: string[] } {
  if (suite === 'host') return { command: judgePath('host', tool) ?? tool, args: [...args] };
  const root = chrootDir(suite);
  if (!root) throw new Error(`no ${suite} judge chroot (make it with \`scripts/judge-chroots.sh ${suite}\` or \`bash test/fixtures/ensure-fixtures.sh\`)`);
  const binds = bindsFor(args, options.binds ?? []);
  return {
    command: 'unshare',
    args: ['--mount', '--propagation', 'private', 'sh', '-c', IN_NAMESPACE, 'judge', root, String(binds.length), ...binds, tool, ...args],
  };
}

/** Run `tool args` from a suite: the host's tool, or the chroot's. */
export function runJudge(suite: JudgeSuite, tool: string, args: readonly string[], options: JudgeOptions = {}): Promise<RunResult> {
  const { command, args: argv } = judgeCommand(suite, tool, args, options);
  return run(command, argv, { input: options.input, timeoutMs: options.timeoutMs });
}

/** The judge right for a generation's kernel (JUDGES). */
export function judgeFor(generation: Generation | FixtureGeneration, tool: JudgeTool): JudgeChoice {
  const name = typeof generation === 'string' ? generation : generation.generation;
  return JUDGES[name][tool];
}

/** Whether the judge right for this generation can run here. */
export function haveJudgeFor(generation: Generation | FixtureGeneration, tool: JudgeTool): boolean {
  return haveJudge(judgeFor(generation, tool).suite, tool);
}

/** Run the tool right for a generation's kernel, with the options it needs there (JudgeChoice.args) before args. */
export function runJudgeFor(generation: Generation | FixtureGeneration, tool: JudgeTool, args: readonly string[], options: JudgeOptions = {}): Promise<RunResult> {
  const choice = judgeFor(generation, tool);
  return runJudge(choice.suite, tool, [...(choice.args ?? []), ...args], options);
}
