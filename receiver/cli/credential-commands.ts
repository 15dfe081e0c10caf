/**
 * `token` (hosts' upload tokens) and `operator` (people's and scripts' API
 * tokens): the same three commands, add / revoke / list, over two stores.
 * One table per kind says what differs; the commands are made once.
 */
import { Option, type Command } from 'commander';
import type { Catalog } from '../catalog/catalog.js';
import type { OperatorRole } from '../catalog/operator-tokens.js';
import { catalogOption, dataDirOption, iso, withCatalog } from './catalog-options.js';

interface CredentialRow {
  createdAt: number;
  revokedAt: number | null;
}

interface CredentialKind<Row extends CredentialRow> {
  /** "host", "operator": in messages. */
  noun: string;
  /** The argument's name in help: "host", "name". */
  argument: string;
  description: string;
  add: { description: string; options?: Option[]; run(catalog: Catalog, name: string, opts: Record<string, unknown>): Promise<string> };
  revokeDescription: string;
  revoke(catalog: Catalog, name: string): Promise<boolean>;
  listDescription: string;
  list(catalog: Catalog): Promise<Row[]>;
  /** A row of `list`, without the dates. */
  line(row: Row): string;
}

function addCredentialCommands<Row extends CredentialRow>(program: Command, name: string, kind: CredentialKind<Row>): void {
  const group = program.command(name).description(kind.description);
  const argument = `<${kind.argument}>`;
  const add = group.command('add').description(kind.add.description).argument(argument);
  for (const option of kind.add.options ?? []) add.addOption(option);
  add.addOption(dataDirOption()).addOption(catalogOption())
    .action(async (who: string, opts) => {
      process.stdout.write(`${await withCatalog(opts, true, (catalog) => kind.add.run(catalog, who, opts))}\n`);
    });

  group.command('revoke').description(kind.revokeDescription).argument(argument)
    .addOption(dataDirOption()).addOption(catalogOption())
    .action(async (who: string, opts) => {
      if (!(await withCatalog(opts, true, (catalog) => kind.revoke(catalog, who)))) {
        process.stderr.write(`kdump-receiver: ${kind.noun} ${who} has no live token\n`);
        process.exit(3);
      }
    });

  group.command('list').description(kind.listDescription)
    .addOption(dataDirOption()).addOption(catalogOption())
    .option('--json', 'as JSON')
    .action(async (opts) => {
      const rows = await withCatalog(opts, false, (catalog) => kind.list(catalog));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      for (const row of rows) process.stdout.write(`${kind.line(row)} ${iso(row.createdAt)}${row.revokedAt ? `  REVOKED ${iso(row.revokedAt)}` : ''}\n`);
    });
}

/** `token add|revoke|list` and `operator add|revoke|list`. */
export function addCredentialCommandGroups(program: Command): void {
  addCredentialCommands(program, 'token', {
    noun: 'host',
    argument: 'host',
    description: 'enrol hosts: each gets an upload token bound to its host id',
    add: {
      description: 'enrol HOST (or replace its token); prints the token once, for the host\'s --token-file',
      run: (catalog, host) => catalog.hostTokens.add(host),
    },
    revokeDescription: 'revoke HOST\'s token: its uploads are refused from now on',
    revoke: (catalog, host) => catalog.hostTokens.revoke(host),
    listDescription: 'enrolled hosts (never the tokens: only their hashes are kept)',
    list: (catalog) => catalog.hostTokens.list(),
    line: (h) => `${h.hostId.padEnd(24)} enrolled`,
  });
  addCredentialCommands(program, 'operator', {
    noun: 'operator',
    argument: 'name',
    description: 'tokens for people and scripts using the HTTP API and web UI (roles: read, admin)',
    add: {
      description: 'add NAME (or replace its token); prints the token once',
      options: [new Option('--role <role>', 'read (see everything) or admin (also delete dumps, apply retention)').default('read')],
      run: (catalog, name, opts) => catalog.operatorTokens.add(name, opts.role as OperatorRole),
    },
    revokeDescription: 'revoke NAME\'s token',
    revoke: (catalog, name) => catalog.operatorTokens.revoke(name),
    listDescription: 'operators and their roles (never the tokens: only their hashes are kept)',
    list: (catalog) => catalog.operatorTokens.list(),
    line: (o) => `${o.name.padEnd(24)} ${o.role.padEnd(6)} added`,
  });
}
