/**
 * The container image's contract, checked without a container engine (none
 * runs here): deploy/container/Dockerfile's ENTRYPOINT + CMD, started as its
 * USER from an /app laid out by its `COPY --from=build` lines (over the tree
 * `npm run build` made), becomes ready within its HEALTHCHECK start period,
 * passes its own HEALTHCHECK, takes an enrolment and an upload, owns all it
 * writes, and exits 0 on SIGTERM. compose.yaml, the Kubernetes manifest and
 * the systemd unit must agree with it on ports, paths, uid and command line.
 *
 * As root (as `npm test` runs) every command runs in a mount namespace of its
 * own whose root file system is read-only and only the data directory is
 * writable (compose's read_only, Kubernetes' readOnlyRootFilesystem; stricter:
 * /tmp is read-only too), as the image's numeric USER with no capabilities.
 * What stays unproven here: the image build itself (base images cannot be
 * pulled) and the pruned node_modules (this tree's, dev dependencies included).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run, runSender, type RunResult } from '../helpers/cli.js';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { freePort } from '../helpers/ports.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

const DOCKERFILE = path.join(ROOT, 'deploy/container/Dockerfile');
const COMPOSE = path.join(ROOT, 'deploy/container/compose.yaml');
const KUBERNETES = path.join(ROOT, 'deploy/kubernetes/kdump-receiver.yaml');
const SYSTEMD = path.join(ROOT, 'deploy/kdump-receiver.service');
/** What `docker stop` waits before SIGKILL unless told otherwise. */
const DOCKER_STOP_TIMEOUT_MS = 10_000;
const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions per stage: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[][] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // As docker does: comment and empty lines vanish, even inside a continuation.
    if (line === '' || line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending) logical.push(pending);
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/s.exec(line)!;
    const instruction = { keyword: match[1].toUpperCase(), args: match[2].trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    // ARGs before the first FROM only parametrise the FROM lines.
    if (stages.length > 0) stages.at(-1)!.push(instruction);
  }
  return stages;
}

/** The JSON-array ("exec") form: the only form with no shell in between. */
function execForm(args: string, what: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new Error(`${what} is not in the JSON-array form: ${args}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`${what} is not a non-empty array of strings: ${args}`);
  }
  return parsed;
}

function durationMs(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!match) throw new Error(`not a Dockerfile duration: ${value}`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

interface Image {
  buildName: string | undefined;
  buildWorkdir: string;
  buildRuns: string[];
  copies: Array<{ from: string; src: string; dest: string }>;
  workdir: string;
  env: Record<string, string>;
  uid: number;
  gid: number;
  volume: string;
  exposed: number[];
  runtimeRuns: string[];
  healthcheck: { options: Record<string, string>; command: string[] };
  entrypoint: string[];
  cmd: string[];
}

function readImage(): Image {
  const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  if (stages.length < 2) throw new Error(`expected a multi-stage build, found ${stages.length} stage(s)`);
  const build = stages[0];
  const runtime = stages.at(-1)!;
  const all = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword).map((i) => i.args);
  const last = (stage: Instruction[], keyword: string) => {
    const found = all(stage, keyword);
    if (found.length === 0) throw new Error(`the runtime stage has no ${keyword}`);
    return found.at(-1)!;
  };

  const env: Record<string, string> = {};
  for (const args of all(runtime, 'ENV')) {
    for (const pair of args.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new Error(`ENV ${args}: only KEY=VALUE pairs are understood here`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  const user = last(runtime, 'USER');
  // Numeric, so that Kubernetes can check runAsNonRoot without a passwd file.
  const userMatch = /^(\d+):(\d+)$/.exec(user);
  if (!userMatch) throw new Error(`USER ${user}: expected a numeric UID:GID`);
  const volumes = execForm(last(runtime, 'VOLUME'), 'VOLUME');
  if (volumes.length !== 1) throw new Error(`expected one VOLUME (the data directory), found ${volumes.join(', ')}`);

  const health = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(\[.*\])$/s.exec(last(runtime, 'HEALTHCHECK'));
  if (!health) throw new Error(`HEALTHCHECK is not "[--option=value ...] CMD [...]": ${last(runtime, 'HEALTHCHECK')}`);
  const options = Object.fromEntries(health[1].trim().split(/\s+/).filter(Boolean).map((o) => {
    const [key, value] = o.slice(2).split('=');
    return [key, value];
  }));

  const copies = all(runtime, 'COPY').map((args) => {
    const match = /^--from=(\S+)\s+(\S+)\s+(\S+)$/.exec(args);
    if (!match) throw new Error(`runtime COPY ${args}: expected --from=STAGE SRC DEST`);
    return { from: match[1], src: match[2], dest: match[3] };
  });
  return {
    buildName: /\bAS\s+(\S+)$/i.exec(build[0].args)?.[1],
    buildWorkdir: all(build, 'WORKDIR').at(-1)!,
    buildRuns: all(build, 'RUN'),
    copies,
    workdir: last(runtime, 'WORKDIR'),
    env,
    uid: Number(userMatch[1]),
    gid: Number(userMatch[2]),
    volume: volumes[0],
    exposed: last(runtime, 'EXPOSE').split(/\s+/).map(Number),
    runtimeRuns: all(runtime, 'RUN'),
    healthcheck: { options, command: execForm(health[2], 'HEALTHCHECK CMD') },
    entrypoint: execForm(last(runtime, 'ENTRYPOINT'), 'ENTRYPOINT'),
    cmd: execForm(last(runtime, 'CMD'), 'CMD'),
  };
}

// ------------------------------------------------- the image's command, here

/** The port of a listener flag in CMD (`--tcp 0.0.0.0:7341` -> 7341). */
function cmdPort(image: Image, flag: string): number {
  const value = image.cmd[image.cmd.indexOf(flag) + 1] ?? '';
  const match = /:(\d+)$/.exec(value);
  if (!image.cmd.includes(flag) || !match) throw new Error(`CMD has no ${flag} HOST:PORT`);
  return Number(match[1]);
}

/** Where the container's paths and ports are on this machine. */
interface Mapping {
  app: string;
  dataDir: string;
  ports: Map<number, number>;
}

function mapArg(image: Image, mapping: Mapping, arg: string): string {
  let out = arg;
  if (out === image.workdir || out.startsWith(`${image.workdir}/`)) out = mapping.app + out.slice(image.workdir.length);
  if (out === image.volume || out.startsWith(`${image.volume}/`)) out = mapping.dataDir + out.slice(image.volume.length);
  // Servers under test listen on loopback only, on free ports.
  return out.replace(/\b(?:0\.0\.0\.0|127\.0\.0\.1):(\d+)\b/g, (_, port: string) => {
    const local = mapping.ports.get(Number(port));
    if (local === undefined) throw new Error(`${arg}: port ${port} is not EXPOSEd`);
    return `127.0.0.1:${local}`;
  });
}

/** argv as the container would exec it: `node` is this node, paths and ports mapped. */
function mapCommand(image: Image, mapping: Mapping, argv: string[]): string[] {
  const [program, ...rest] = argv;
  expect(program, 'the image runs node from PATH').toBe('node');
  return [process.execPath, ...rest.map((a) => mapArg(image, mapping, a))];
}

const runningAsRoot = process.getuid?.() === 0;
/** Bind the data directory to itself, make / read-only, keep the data directory writable, then exec. */
const READ_ONLY_ROOT = 'mount --bind "$1" "$1" && mount -o remount,bind,ro / && mount -o remount,bind,rw "$1" && shift && exec "$@"';

/**
 * As the image's USER, with no capabilities and no_new_privs (what compose's
 * cap_drop/no-new-privileges and Kubernetes' securityContext give), on a
 * read-only root with the data directory writable, when this runs as root;
 * else as whoever runs the tests, as they are.
 */
function asImageUser(image: Image, mapping: Mapping, argv: string[]): [string, string[]] {
  if (!runningAsRoot) return [argv[0], argv.slice(1)];
  return ['unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', READ_ONLY_ROOT, 'sh', mapping.dataDir,
    'setpriv', `--reuid=${image.uid}`, `--regid=${image.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
    '--no-new-privs', '--', ...argv]];
}

/** Mount point -> options of the mounts PID sees (/proc/PID/mountinfo). */
function mountOptions(pid: number): Map<string, string[]> {
  const mounts = new Map<string, string[]>();
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    mounts.set(fields[4].replace(/\\040/g, ' '), fields[5].split(','));
  }
  return mounts;
}

function imageEnv(image: Image, mapping: Mapping): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: CONTAINER_PATH, HOME: '/' };
  for (const [key, value] of Object.entries(image.env)) env[key] = mapArg(image, mapping, value);
  return env;
}

/** `docker exec` / the health checker: a command run beside the receiver, as the same user, with the image's env. */
function execInImage(image: Image, mapping: Mapping, argv: string[], timeoutMs = 30_000): Promise<RunResult> {
  const [command, args] = asImageUser(image, mapping, mapCommand(image, mapping, argv));
  return run(command, args, { env: imageEnv(image, mapping), timeoutMs });
}

/** /app as the runtime stage has it: what its `COPY --from=build` lines take from the built tree. */
async function layOutApp(image: Image): Promise<string> {
  const app = await mkdtemp(path.join(tmpdir(), 'netdump-app-'));
  await chmod(app, 0o755);
  for (const copy of image.copies) {
    expect(copy.from, 'the runtime stage copies from the build stage').toBe(image.buildName);
    expect(copy.src.startsWith(`${image.buildWorkdir}/`), `COPY ${copy.src} comes from the build stage's ${image.buildWorkdir}`).toBe(true);
    const relative = copy.src.slice(image.buildWorkdir.length + 1);
    const from = path.join(ROOT, relative);
    expect(existsSync(from), `${relative} exists after npm run build (COPY --from=${copy.from} ${copy.src})`).toBe(true);
    const destInImage = path.posix.resolve(image.workdir, copy.dest);
    expect(destInImage.startsWith(`${image.workdir}/`), `COPY ${copy.dest} lands under ${image.workdir}`).toBe(true);
    const to = path.join(app, destInImage.slice(image.workdir.length + 1));
    await mkdir(path.dirname(to), { recursive: true, mode: 0o755 });
    // The image has pruned dependencies; a link to this tree's (dev ones included) stands in for them.
    if (relative === 'node_modules') await symlink(from, to, 'dir');
    else await cp(from, to, { recursive: true });
  }
  return app;
}

interface Started {
  child: ChildProcess;
  ready: Record<string, unknown>;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startImage(image: Image, mapping: Mapping, boundMs: number): Promise<Started> {
  const [command, args] = asImageUser(image, mapping, mapCommand(image, mapping, [...image.entrypoint, ...image.cmd]));
  const child = spawn(command, args, { cwd: mapping.app, env: imageEnv(image, mapping), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${boundMs} ms\n${stdout}${stderr}`)), boundMs);
    child.stdout!.on('data', (d) => {
      stdout += d;
      for (const line of stdout.split('\n').slice(0, -1)) { // whole lines only
        if (!line.includes('kdump-receiver ready')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before it was ready\n${stdout}${stderr}`));
    });
  });
  return { child, ready, exited, stdout: () => stdout, stderr: () => stderr };
}

/** "Uid:" and friends from /proc/PID/status. */
function procStatus(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

async function owners(dir: string): Promise<Array<{ file: string; uid: number; mode: number }>> {
  const found: Array<{ file: string; uid: number; mode: number }> = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const stat = await lstat(path.join(dir, entry));
    found.push({ file: entry, uid: stat.uid, mode: stat.mode & 0o7777 });
  }
  return found;
}

// ------------------------------------------------------------------- tests

describe('the container image, run here as the Dockerfile says', () => {
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  let image: Image;
  let mapping: Mapping;
  let receiver: Started | undefined;
  let scratch: string;

  beforeAll(async () => {
    image = readImage();
    const ports = new Map<number, number>();
    for (const port of image.exposed) ports.set(port, await freePort());
    scratch = await mkdtemp(path.join(tmpdir(), 'netdump-container-'));
    await chmod(scratch, 0o755);
    const dataDir = path.join(scratch, 'data');
    // As the runtime stage's RUN makes the volume: owned by USER, 0750.
    await mkdir(dataDir, { mode: 0o750 });
    await chmod(dataDir, 0o750);
    if (runningAsRoot) await chown(dataDir, image.uid, image.gid);
    mapping = { app: await layOutApp(image), dataDir, ports };
  });

  afterAll(async () => {
    if (receiver && receiver.child.exitCode === null && receiver.child.signalCode === null) receiver.child.kill('SIGKILL');
    if (mapping?.app) await rm(mapping.app, { recursive: true, force: true });
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('the build stage compiles and prunes; the runtime stage makes the volume its USER\'s', () => {
    expect(image.buildRuns.join('\n')).toMatch(/\bnpm ci\b/);
    expect(image.buildRuns.join('\n')).toMatch(/\bnpm run build\b[\s\S]*\bnpm prune --omit=dev\b/);
    expect(image.uid).toBeGreaterThan(0);
    const runtimeRuns = image.runtimeRuns.join('\n');
    expect(runtimeRuns).toContain(`mkdir -p ${image.volume}`);
    expect(runtimeRuns).toContain(`chown ${image.uid}:${image.gid} ${image.volume}`);
    expect(image.env.KDUMP_RECEIVER_DATA).toBe(image.volume);
    // The CMD serves on every EXPOSEd port, from every address, into the volume.
    const cmd = image.cmd.join(' ');
    for (const port of image.exposed) expect(cmd).toContain(`0.0.0.0:${port}`);
    expect(image.cmd).toEqual(expect.arrayContaining(['--data-dir', image.volume]));
  });

  it('ENTRYPOINT + CMD start the built receiver as the image user, ready within the start period, on the mapped ports', async () => {
    const boundMs = durationMs(image.healthcheck.options['start-period'] ?? '30s');
    receiver = await startImage(image, mapping, boundMs);
    expect(receiver.ready).toMatchObject({
      msg: 'kdump-receiver ready',
      dataDir: mapping.dataDir,
      tcp: { host: '127.0.0.1', port: mapping.ports.get(cmdPort(image, '--tcp')) },
      http: { host: '127.0.0.1', port: mapping.ports.get(cmdPort(image, '--http')) },
    });

    const status = procStatus(receiver.child.pid!);
    expect(status.Name).toBe('node');
    const uids = status.Uid.split(/\s+/).map(Number);
    const gids = status.Gid.split(/\s+/).map(Number);
    // real, effective, saved and filesystem ids: none of them root.
    expect(uids.every((u) => u !== 0), status.Uid).toBe(true);
    if (runningAsRoot) {
      expect(uids).toEqual([image.uid, image.uid, image.uid, image.uid]);
      expect(gids).toEqual([image.gid, image.gid, image.gid, image.gid]);
      expect(status.Groups).toBe('');
      expect(status.CapEff).toBe('0000000000000000');
      expect(status.CapBnd).toBe('0000000000000000');
      expect(status.NoNewPrivs).toBe('1');
      const mounts = mountOptions(receiver.child.pid!);
      expect(mounts.get('/'), 'the root file system is read-only').toContain('ro');
      expect(mounts.get(mapping.dataDir), 'the volume is writable').toContain('rw');
    }
  });

  it('its HEALTHCHECK passes within its timeout, and fails when nothing answers', async () => {
    expect(receiver, 'started by the test before').toBeDefined();
    const timeoutMs = durationMs(image.healthcheck.options.timeout ?? '30s');
    const healthy = await execInImage(image, mapping, image.healthcheck.command, timeoutMs);
    expect(healthy.code, healthy.stderr).toBe(0);

    const nowhere = { ...mapping, ports: new Map<number, number>() };
    for (const port of image.exposed) nowhere.ports.set(port, await freePort());
    const unhealthy = await execInImage(image, nowhere, image.healthcheck.command, timeoutMs);
    expect(unhealthy.code).toBe(1);
  });

  it('the web UI files the image copies are found and served from its /app', async () => {
    expect(receiver, 'started by the test before').toBeDefined();
    // Only an image that ships the UI must serve it.
    if (!image.copies.some((c) => c.src.endsWith('/receiver/web'))) return;
    const response = await fetch(`http://127.0.0.1:${mapping.ports.get(cmdPort(image, '--http'))}/`);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toBe(readFileSync(path.join(ROOT, 'receiver/web/index.html'), 'utf8'));
  });

  it('the enrolment command of compose.yaml and the manifest works beside it, and a host\'s upload lands in the volume', async () => {
    expect(receiver, 'started by the test before').toBeDefined();
    const enrol = /exec receiver (node \S+ token add HOST)$/m.exec(readFileSync(COMPOSE, 'utf8'));
    expect(enrol, 'compose.yaml says how to enrol a host').not.toBeNull();
    expect(readFileSync(KUBERNETES, 'utf8')).toContain(`kdump-receiver-0 -- ${enrol![1]}`);
    const argv = enrol![1].replace(/HOST$/, 'container-host').split(' ');
    // No --data-dir: the image's KDUMP_RECEIVER_DATA points it at the volume.
    expect(argv).not.toContain('--data-dir');
    const added = await execInImage(image, mapping, argv);
    expect(added.code, added.stderr).toBe(0);
    const token = added.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const tokenFile = path.join(scratch, 'token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const sent = await runSender(['--server', `tcp://127.0.0.1:${mapping.ports.get(cmdPort(image, '--tcp'))}`, '--host-id', 'container-host',
      '--token-file', tokenFile, '--quiet', '--deadline', '30', fixture.core.path]);
    expect(sent.code, sent.stderr).toBe(0);

    const listed = await execInImage(image, mapping, ['node', `${image.workdir}/dist/receiver/cli.js`, 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ hostId: 'container-host', status: 'complete' })]);

    const files = await owners(mapping.dataDir);
    expect(files.map((f) => f.file)).toEqual(expect.arrayContaining(['index.db', 'container-host']));
    expect(files.some((f) => f.file.endsWith(`${path.sep}vmcore`))).toBe(true);
    for (const file of files) {
      if (runningAsRoot) expect(file.uid, `${file.file} is the image user's`).toBe(image.uid);
      expect(file.mode & 0o002, `${file.file} is not world-writable`).toBe(0);
    }
  });

  it('SIGTERM (docker stop) makes it exit 0 within docker\'s default stop timeout; then the HEALTHCHECK fails', async () => {
    expect(receiver, 'started by the test before').toBeDefined();
    const started = Date.now();
    receiver!.child.kill('SIGTERM');
    const exit = await Promise.race([
      receiver!.exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), DOCKER_STOP_TIMEOUT_MS)),
    ]);
    expect(exit, receiver!.stderr()).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(DOCKER_STOP_TIMEOUT_MS);
    expect(receiver!.stdout()).toMatch(/"signal":"SIGTERM".*"msg":"shutting down"/);
    const after = await execInImage(image, mapping, image.healthcheck.command, durationMs(image.healthcheck.options.timeout ?? '30s'));
    expect(after.code).toBe(1);
  });
});

describe('compose.yaml, the Kubernetes manifest and the systemd unit agree with the Dockerfile', () => {
  const image = readImage();
  const compose = readFileSync(COMPOSE, 'utf8');
  const kube = readFileSync(KUBERNETES, 'utf8');
  const unit = readFileSync(SYSTEMD, 'utf8');
  /** The value of `KEY: [...]` written on one line as a JSON array. */
  const jsonArrayAfter = (text: string, key: string): unknown[] => {
    const matches = [...text.matchAll(new RegExp(`^\\s*-?\\s*${key}:\\s*(\\[.*\\])\\s*$`, 'gm'))];
    expect(matches.length, `exactly one "${key}: [...]" line`).toBe(1);
    return JSON.parse(matches[0][1]);
  };
  const healthPort = Number(/127\.0\.0\.1:(\d+)\/healthz/.exec(image.healthcheck.command.join(' '))?.[1]);

  it('the HEALTHCHECK asks /healthz on an EXPOSEd port', () => {
    expect(image.exposed).toContain(healthPort);
  });

  it('compose.yaml: same command, healthcheck, user, ports and volume; read-only root, restarts, no capabilities', () => {
    expect(jsonArrayAfter(compose, 'command')).toEqual(image.cmd);
    expect(jsonArrayAfter(compose, 'test')).toEqual(['CMD', ...image.healthcheck.command]);
    expect(compose).toMatch(new RegExp(`^\\s*user:\\s*"${image.uid}:${image.gid}"\\s*$`, 'm'));
    const published = [...compose.matchAll(/^\s*-\s*"(?:[\d.]+:)?(\d+):(\d+)(?:\/tcp)?"/gm)].map((m) => Number(m[2]));
    expect(published.sort()).toEqual([...image.exposed].sort());
    const mount = new RegExp(`^\\s*-\\s*([\\w-]+):${image.volume}\\s*$`, 'm').exec(compose);
    expect(mount, `a named volume mounted at ${image.volume}`).not.toBeNull();
    expect(compose).toMatch(new RegExp(`^volumes:\\s*\\n\\s+${mount![1]}:`, 'm'));
    expect(compose).toMatch(/^\s*read_only:\s*true\s*$/m);
    expect(compose).toMatch(/^\s*restart:\s*(unless-stopped|always|on-failure)\s*$/m);
    expect(compose).toMatch(/^\s*cap_drop:\s*\n\s*-\s*ALL\s*$/m);
  });

  it('the manifest: one replica, same args, uid, ports, volume path; probes on the healthcheck\'s port; locked down', () => {
    expect(kube).toMatch(/^\s*replicas:\s*1\s*$/m);
    expect(kube).toMatch(/^kind:\s*StatefulSet\s*$/m);
    expect(jsonArrayAfter(kube, 'args')).toEqual(image.cmd);
    expect(kube).toMatch(new RegExp(`^\\s*runAsUser:\\s*${image.uid}\\s*$`, 'm'));
    for (const key of ['runAsGroup', 'fsGroup']) expect(kube).toMatch(new RegExp(`^\\s*${key}:\\s*${image.gid}\\s*$`, 'm'));
    expect(kube).toMatch(/^\s*runAsNonRoot:\s*true\s*$/m);
    expect(kube).toMatch(/^\s*readOnlyRootFilesystem:\s*true\s*$/m);
    expect(kube).toMatch(/^\s*allowPrivilegeEscalation:\s*false\s*$/m);
    expect(kube).toMatch(/^\s*drop:\s*\["ALL"\]\s*$/m);
    expect(kube).toMatch(new RegExp(`^\\s*mountPath:\\s*${image.volume}\\s*$`, 'm'));
    // Named container ports: name -> number.
    const named = new Map([...kube.matchAll(/-\s*name:\s*(\S+)\s*\n\s*containerPort:\s*(\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect([...named.values()].sort()).toEqual([...image.exposed].sort());
    const servicePorts = [...kube.matchAll(/^\s*port:\s*(\d+)\s*$/gm)].map((m) => Number(m[1]));
    expect(new Set(servicePorts)).toEqual(new Set(image.exposed));
    const probes = [...kube.matchAll(/^\s*(startupProbe|livenessProbe|readinessProbe):\s*\n(?:\s*#.*\n)?\s*httpGet:\s*\n\s*path:\s*(\S+)\s*\n\s*port:\s*(\S+)/gm)];
    expect(probes.map((p) => p[1]).sort()).toEqual(['livenessProbe', 'readinessProbe', 'startupProbe']);
    for (const [, probe, probePath, port] of probes) {
      expect(probePath).toBe(probe === 'readinessProbe' ? '/readyz' : '/healthz');
      expect(named.get(port) ?? Number(port)).toBe(healthPort);
    }
  });

  it('the systemd unit: the same command line and data directory, as a user of its own', () => {
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1].trim().split(/\s+/);
    const cli = execStart.findIndex((a) => a.endsWith('/dist/receiver/cli.js'));
    expect(cli).toBeGreaterThan(0);
    expect(execStart.slice(cli + 1)).toEqual(image.cmd);
    expect(image.volume.startsWith('/var/lib/')).toBe(true);
    expect(unit).toMatch(new RegExp(`^StateDirectory=${path.posix.basename(image.volume)}$`, 'm'));
    expect(unit).toMatch(new RegExp(`^Environment=KDUMP_RECEIVER_DATA=${image.volume}$`, 'm'));
    expect(unit).toMatch(/^User=(?!root$)\S+$/m);
    for (const setting of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'CapabilityBoundingSet=']) {
      expect(unit).toMatch(new RegExp(`^${setting}$`, 'm'));
    }
  });

  const pyyaml = spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!pyyaml)('both YAML files parse, and their names line up (ports, volumes, labels) [needs python3 with PyYAML]', () => {
    const parsed = spawnSync('python3', ['-c',
      'import json, sys, yaml; json.dump([list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]], sys.stdout)', COMPOSE, KUBERNETES],
    { encoding: 'utf8' });
    expect(parsed.status, parsed.stderr).toBe(0);
    const [[composeDoc], kubeDocs] = JSON.parse(parsed.stdout);
    const service = composeDoc.services.receiver;
    expect(service.command).toEqual(image.cmd);
    expect(Object.keys(composeDoc.volumes)).toContain(service.volumes[0].split(':')[0]);

    expect(kubeDocs.map((d: { kind: string }) => d.kind).sort()).toEqual(['Service', 'Service', 'StatefulSet']);
    const set = kubeDocs.find((d: { kind: string }) => d.kind === 'StatefulSet');
    const pod = set.spec.template.spec;
    const container = pod.containers[0];
    expect(set.spec.replicas).toBe(1);
    expect(set.spec.selector.matchLabels).toEqual(set.spec.template.metadata.labels);
    expect(kubeDocs.some((d: { kind: string; metadata: { name: string } }) => d.kind === 'Service' && d.metadata.name === set.spec.serviceName)).toBe(true);
    const dataMount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === image.volume);
    expect(set.spec.volumeClaimTemplates.map((t: { metadata: { name: string } }) => t.metadata.name)).toContain(dataMount.name);
    const portNames = new Set(container.ports.map((p: { name: string }) => p.name));
    for (const svc of kubeDocs.filter((d: { kind: string }) => d.kind === 'Service')) {
      expect(svc.spec.selector).toEqual(set.spec.template.metadata.labels);
      for (const port of svc.spec.ports) expect(portNames.has(port.targetPort), `${svc.metadata.name}: ${port.targetPort}`).toBe(true);
    }
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: image.uid, runAsGroup: image.gid, fsGroup: image.gid });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(container.resources.requests && container.resources.limits).toBeTruthy();
  });
});
