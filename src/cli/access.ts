// `slipway login|logout|whoami`, `slipway user …` and `slipway token …`: signing the CLI in to a
// server, and managing users and API tokens through the API.

import { hostname } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { savedCredential, saveCredential, credentialsPath } from '../auth/credentials.ts';
import { SlipwayClient } from '../client/client.ts';
import type { ApiTokenListing, Role } from '../client/api.ts';
import { isRole } from '../core/roles.ts';
import { ROLES } from '../core/types.ts';
import { ago, bold, dim, table } from './format.ts';
import { print, printJson } from './output.ts';
import { readSecret } from './prompt.ts';
import { nodeHttpTransport } from './transport.ts';

function role(value: string): Role {
  if (!isRole(value)) throw new InvalidArgumentError(`expected one of ${ROLES.join(', ')}`);
  return value;
}

const readPassword = (prompt: string) => readSecret(prompt, 'password', 'pipe it in: printf %s "$PASSWORD" | slipway …');

export function registerAccessCommands(program: Command, client: () => SlipwayClient, serverUrl: () => string): void {
  program
    .command('login')
    .description('sign the CLI in to a server: with a user name and password, or with an API token read from stdin')
    .option('--user <name>', 'sign in with this user\'s password (asked for, or read from stdin) and get a new token')
    .addHelpText('after', '\nExamples:\n  slipway login --server https://ci.example.com --user ada\n  printf %s "$TOKEN" | slipway login --server https://ci.example.com')
    .action(async (options: { user?: string }) => {
      const url = serverUrl();
      let token: string;
      if (options.user) {
        const password = await readPassword(`Password for ${options.user} at ${url}: `);
        token = (await new SlipwayClient(url, undefined, nodeHttpTransport).login({ user: options.user, password, name: `slipway CLI on ${hostname()}` })).token;
      } else {
        token = (await readSecret(`API token for ${url}: `, 'token', 'pipe one in: printf %s "$TOKEN" | slipway login --server <url>')).trim();
      }
      const me = await new SlipwayClient(url, token, nodeHttpTransport).me();
      saveCredential(url, { token, user: me.user.name });
      print(`Signed in to ${url} as ${bold(me.user.name)} (${me.user.role}). ${dim(`Token saved in ${credentialsPath()}`)}`);
    });

  program
    .command('logout')
    .description("forget this server's token; --revoke also revokes it on the server")
    .option('--revoke', 'revoke the token on the server too')
    .action(async (options: { revoke?: boolean }) => {
      const url = serverUrl();
      if (!savedCredential(url)) return print(`Not signed in to ${url}.`);
      if (options.revoke) {
        const api = client();
        await api.revokeToken((await api.me()).token.id);
      }
      saveCredential(url, null);
      print(`Signed out of ${url}${options.revoke ? ' and revoked the token' : ''}.`);
    });

  program
    .command('whoami')
    .description('the user and token the CLI uses for this server')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const me = await client().me();
      if (options.json) return printJson(me);
      const source = process.env.SLIPWAY_TOKEN ? 'SLIPWAY_TOKEN' : credentialsPath();
      print(`${bold(me.user.name)} (${me.user.role}) at ${serverUrl()} ${dim(`with token #${me.token.id} "${me.token.name}" from ${source}`)}`);
    });

  const user = program.command('user').description('users and their roles: viewer, developer, deployer, admin');

  user
    .command('list')
    .description('every user with their role')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const users = await client().users();
      if (options.json) return printJson(users);
      const rows = [['USER', 'ROLE', 'PASSWORD', 'E-MAIL', 'CREATED'].map(bold)];
      for (const entry of users) rows.push([entry.name, entry.role, entry.hasPassword ? 'set' : dim('none (tokens only)'), entry.email ?? dim('—'), ago(entry.createdAt)]);
      print(table(rows));
    });

  user
    .command('add <name>')
    .description('add a user (admin); --password asks for one, else the user works with tokens only')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, role)
    .option('--password', 'set a password (asked for, or read from stdin)')
    .option('--email <address>', 'where approval requests for them go')
    .action(async (name: string, options: { role: Role; password?: boolean; email?: string }) => {
      const password = options.password ? await readPassword(`Password for ${name} (at least 12 characters): `) : undefined;
      const added = await client().addUser({ name, role: options.role, password, email: options.email });
      print(`Added ${bold(added.name)} as ${added.role}.`);
      if (!added.hasPassword) print(dim(`  give them a token: slipway token create --user ${added.name} --name <what it is for>`));
    });

  user
    .command('role <name> <role>')
    .description("change a user's role (admin)")
    .action(async (name: string, roleArg: string) => {
      const updated = await client().updateUser(name, { role: role(roleArg) });
      print(`${bold(updated.name)} is now ${updated.role}.`);
    });

  user
    .command('password <name>')
    .description("set a user's password (admins for anyone, everyone for themselves); asked for, or read from stdin")
    .action(async (name: string) => {
      const password = await readPassword(`New password for ${name} (at least 12 characters): `);
      await client().updateUser(name, { password });
      print(`Set the password of ${bold(name)}.`);
    });

  user
    .command('email <name> [address]')
    .description("set a user's e-mail address, where approval requests go, or remove it without one (admins for anyone, everyone for themselves)")
    .action(async (name: string, address: string | undefined) => {
      const updated = await client().updateUser(name, { email: address ?? null });
      print(updated.email ? `${bold(name)}'s e-mail address is ${updated.email}.` : `Removed ${bold(name)}'s e-mail address.`);
    });

  user
    .command('rm <name>')
    .description('remove a user and revoke all their tokens (admin)')
    .action(async (name: string) => {
      await client().removeUser(name);
      print(`Removed ${bold(name)} and revoked their tokens.`);
    });

  const token = program.command('token').description('API tokens: for the CLI elsewhere, scripts and CI (shown once when created)');

  token
    .command('create')
    .description('create an API token and print it once')
    .requiredOption('--name <name>', 'what the token is for ("laptop", "release script")')
    .option('--user <name>', "another user's token (admin)")
    .option('--json', 'print JSON')
    .action(async (options: { name: string; user?: string; json?: boolean }) => {
      const issued = await client().createToken({ name: options.name, user: options.user });
      if (options.json) return printJson(issued);
      // The token alone on stdout, so it can be captured; the words around it go to stderr.
      process.stderr.write(`Created token #${issued.id} "${issued.name}" for ${issued.user}. Copy it now; it is not shown again:\n`);
      print(issued.token);
    });

  token
    .command('list')
    .description('your tokens (never their values); admins: --user <name> or --all')
    .option('--user <name>', "one user's tokens (admin)")
    .option('--all', "everyone's tokens (admin)")
    .option('--json', 'print JSON')
    .action(async (options: { user?: string; all?: boolean; json?: boolean }) => {
      const tokens = await client().tokens({ user: options.user, all: options.all });
      if (options.json) return printJson(tokens);
      if (tokens.length === 0) return print('No tokens.');
      print(tokenTable(tokens));
    });

  token
    .command('revoke <id>')
    .description('revoke a token (yours, or as admin anyone\'s); it stops working at once')
    .action(async (idArg: string) => {
      const id = Number(idArg);
      if (!Number.isInteger(id) || id <= 0) throw new InvalidArgumentError(`expected a token number such as 3, got "${idArg}"`);
      await client().revokeToken(id);
      print(`Revoked token #${id}.`);
    });
}

function tokenTable(tokens: ApiTokenListing[]): string {
  const rows = [['TOKEN', 'NAME', 'USER', 'CREATED', 'LAST USED'].map(bold)];
  for (const entry of tokens) rows.push([`#${entry.id}`, entry.name, entry.user, ago(entry.createdAt), entry.lastUsedAt ? ago(entry.lastUsedAt) : dim('never')]);
  return table(rows);
}
