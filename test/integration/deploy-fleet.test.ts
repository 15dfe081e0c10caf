/**
 * The multi-receiver deployment files agree with each other and with what
 * the receiver takes: the same serve flags the CLI knows, the catalog given
 * through KDUMP_RECEIVER_CATALOG, dumps in S3 through KDUMP_RECEIVER_STORAGE
 * (a URL the receiver's own parser accepts, credentials from the environment,
 * never in it), no shared dump volume, readiness on /readyz, a distinct
 * --receiver-id per replica, and HAProxy sending to exactly the receivers
 * compose defines (and `haproxy -c` accepting its file, where installed).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseS3StorageUrl } from '../../receiver/storage/open-storage.js';
import { ROOT, runReceiverCli } from '../helpers/cli.js';

const haveYaml = (() => { try { execFileSync('python3', ['-c', 'import yaml']); return true; } catch { return false; } })();
const yamlDocs = (file: string): any[] => JSON.parse(execFileSync('python3', ['-c',
  'import sys, yaml, json; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))', file], { encoding: 'utf8' }));
const COMPOSE = path.join(ROOT, 'deploy/container/compose.fleet.yaml');
const HAPROXY_CFG = path.join(ROOT, 'deploy/container/haproxy.cfg');
const KUBE = path.join(ROOT, 'deploy/kubernetes/kdump-receiver-fleet.yaml');

/** The long flags `kdump-receiver serve --help` lists. */
async function serveFlags(): Promise<Set<string>> {
  const help = await runReceiverCli(['serve', '--help']);
  return new Set([...help.stdout.matchAll(/--[a-z][a-z-]+/g)].map((m) => m[0]));
}

/** The storage URL as the receiver reads it: an s3:// bucket on an endpoint, path-style, no credentials in it. */
function expectS3Storage(url: string): void {
  expect(url).toMatch(/^s3:\/\//);
  expect(url).not.toMatch(/@/);
  const options = parseS3StorageUrl(url, {});
  expect(options.bucket).toBe('kdump-dumps');
  expect(options.endpoint).toMatch(/^https?:\/\/[a-z0-9.-]+:\d+$/);
  expect(options.forcePathStyle).toBe(true);
}

describe.runIf(haveYaml)('fleet deployment files (parsed with python3-yaml; skipped without it: apt-get install python3-yaml, which `npm test` does)', () => {
  it('compose: PostgreSQL, an S3 store with its bucket, two receivers with distinct ids sharing both, HAProxy in front', async () => {
    const [compose] = yamlDocs(COMPOSE);
    const receivers = Object.entries<any>(compose.services).filter(([name]) => name.startsWith('receiver-'));
    expect(receivers.map(([name]) => name)).toEqual(['receiver-1', 'receiver-2']);
    const flags = await serveFlags();
    const ids = new Set<string>();
    for (const [name, service] of receivers) {
      const command: string[] = service.command;
      expect(command[0]).toBe('serve');
      for (const arg of command.filter((a) => a.startsWith('--'))) expect(flags, `${name}: ${arg}`).toContain(arg);
      ids.add(command[command.indexOf('--receiver-id') + 1]);
      expect(service.environment.KDUMP_RECEIVER_CATALOG).toMatch(/^postgres:\/\/kdump:\$\{PGPASSWORD[^}]*\}@postgres:5432\/kdump$/);
      expectS3Storage(service.environment.KDUMP_RECEIVER_STORAGE);
      expect(new URL(parseS3StorageUrl(service.environment.KDUMP_RECEIVER_STORAGE, {}).endpoint!).hostname).toBe('objectstore');
      expect(service.environment.AWS_ACCESS_KEY_ID).toMatch(/^\$\{S3_ACCESS_KEY[^}]*\}$/);
      expect(service.environment.AWS_SECRET_ACCESS_KEY).toMatch(/^\$\{S3_SECRET_KEY[^}]*\}$/);
      // Nothing durable on the receiver: no shared dump volume, the data directory a tmpfs.
      expect(service.volumes).toBeUndefined();
      expect(service.tmpfs.some((t: string) => t.startsWith('/var/lib/kdump-receiver:'))).toBe(true);
      expect(service.healthcheck.test.join(' ')).toContain('/readyz');
      expect(service.depends_on.postgres.condition).toBe('service_healthy');
      expect(service.depends_on['objectstore-bucket'].condition).toBe('service_completed_successfully');
    }
    expect(ids.size).toBe(2);
    expect(compose.services.postgres.environment).toMatchObject({ POSTGRES_USER: 'kdump', POSTGRES_DB: 'kdump' });
    // The bucket the receivers' URL names is the one the one-shot service makes, on the store they point at.
    expect(compose.services['objectstore-bucket'].entrypoint.join(' ')).toContain('store/kdump-dumps');
    expect(compose.services['objectstore-bucket'].environment.MC_HOST_store).toMatch(/@objectstore:9000$/);
    expect(compose.services['objectstore-bucket'].depends_on.objectstore.condition).toBe('service_healthy');
    expect(Object.keys(compose.volumes).sort()).toEqual(['catalog', 'objects']);

    const cfg = readFileSync(HAPROXY_CFG, 'utf8');
    const servers = [...cfg.matchAll(/^\s*server (\S+) (\S+):(\d+)/gm)].map((m) => `${m[1]}=${m[2]}:${m[3]}`);
    expect(servers.sort()).toEqual(['receiver-1=receiver-1:7341', 'receiver-1=receiver-1:7342', 'receiver-2=receiver-2:7341', 'receiver-2=receiver-2:7342']);
    expect(compose.services.balancer.ports).toEqual(['7341:7341', '7342:7342']);
    expect(cfg.match(/option httpchk GET \/readyz/g)).toHaveLength(2);
  });

  it.runIf(existsSync('/usr/sbin/haproxy'))('haproxy -c accepts the balancer\'s configuration', () => {
    // The receivers' names resolve only inside compose's network: HAProxy warns, and the file is valid.
    const out = execFileSync('/usr/sbin/haproxy', ['-c', '-f', HAPROXY_CFG], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/Configuration file is valid/);
  });

  it('Kubernetes: a Deployment of several replicas, the catalog and S3 credentials from Secrets, dumps in S3, one id per pod', async () => {
    const docs = yamlDocs(KUBE);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    // No shared filesystem is needed any more.
    expect(docs.find((d) => d.kind === 'PersistentVolumeClaim')).toBeUndefined();
    const container = deployment.spec.template.spec.containers[0];
    const flags = await serveFlags();
    for (const arg of container.args.filter((a: string) => a.startsWith('--'))) expect(flags).toContain(arg);
    expect(container.args[container.args.indexOf('--receiver-id') + 1]).toBe('$(POD_NAME)');
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.valueFrom ?? e.value]));
    expect(env.POD_NAME.fieldRef.fieldPath).toBe('metadata.name');
    expect(env.KDUMP_RECEIVER_CATALOG.secretKeyRef).toEqual({ name: 'kdump-receiver-catalog', key: 'url' });
    expectS3Storage(env.KDUMP_RECEIVER_STORAGE);
    expect(env.AWS_ACCESS_KEY_ID.secretKeyRef).toEqual({ name: 'kdump-receiver-s3', key: 'access-key-id' });
    expect(env.AWS_SECRET_ACCESS_KEY.secretKeyRef).toEqual({ name: 'kdump-receiver-s3', key: 'secret-access-key' });
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(deployment.spec.template.spec.volumes.find((v: any) => v.name === 'dumps').emptyDir).toBeDefined();
    expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
  });
});
