// Which module registers each top-level command, so that a command line loads its own module
// and not every other's: a client command then starts without the code (and Node modules such
// as node:crypto) that only other commands use.

import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';

export interface CommandContext {
  client: () => SlipwayClient;
  serverUrl: () => string;
}

export interface CommandModule {
  /** The top-level commands it registers; a unit test holds this to what it registers. */
  commands: readonly string[];
  load: () => Promise<(program: Command, context: CommandContext) => void>;
}

/** In the order `slipway --help` lists their commands. */
export const COMMAND_MODULES: readonly CommandModule[] = [
  {
    commands: ['run', 'rerun', 'resume', 'logs', 'runs', 'show', 'cancel'],
    load: async () => {
      const { registerRunCommands } = await import('./runs.ts');
      return (program, { client }) => registerRunCommands(program, client);
    },
  },
  {
    commands: ['status', 'deployments'],
    load: async () => {
      const { registerStatusCommands } = await import('./status.ts');
      return (program, { client }) => registerStatusCommands(program, client);
    },
  },
  {
    commands: ['deliveries', 'webhook', 'schedules'],
    load: async () => {
      const { registerWebhookCommands } = await import('./webhooks.ts');
      return (program, { client }) => registerWebhookCommands(program, client);
    },
  },
  {
    commands: ['hook'],
    load: async () => {
      const { registerHookCommands } = await import('./hook.ts');
      return (program, { client }) => registerHookCommands(program, client);
    },
  },
  {
    commands: ['login', 'logout', 'whoami', 'user', 'token'],
    load: async () => {
      const { registerAccessCommands } = await import('./access.ts');
      return (program, { client, serverUrl }) => registerAccessCommands(program, client, serverUrl);
    },
  },
  {
    commands: ['promote', 'rollback', 'releases', 'approval', 'approve', 'reject', 'lock', 'unlock', 'locks'],
    load: async () => {
      const { registerDeliveryCommands } = await import('./delivery.ts');
      return (program, { client }) => registerDeliveryCommands(program, client);
    },
  },
  {
    commands: ['secrets'],
    load: async () => {
      const { registerSecretCommands } = await import('./secrets.ts');
      return (program, { client }) => registerSecretCommands(program, client);
    },
  },
  {
    commands: ['audit'],
    load: async () => {
      const { registerAuditCommands } = await import('./audit.ts');
      return (program, { client }) => registerAuditCommands(program, client);
    },
  },
  {
    commands: ['previews'],
    load: async () => {
      const { registerPreviewCommands } = await import('./previews.ts');
      return (program, { client }) => registerPreviewCommands(program, client);
    },
  },
];

/**
 * The command `args` (argv after the script) names, when only --server stands before it.
 * Anything else there (--help, --version, an unknown option) is for commander to answer with
 * every command known, and so is no command at all.
 */
export function commandName(args: readonly string[]): string | undefined {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--server') index++;
    else if (!arg.startsWith('--server=')) return arg.startsWith('-') ? undefined : arg;
  }
  return undefined;
}

/** The modules a command line needs: the one registering its command, else every one (help, a mistyped name). */
export function modulesFor(args: readonly string[], ownCommands: readonly string[]): readonly CommandModule[] {
  const name = commandName(args);
  if (name !== undefined && ownCommands.includes(name)) return [];
  const named = COMMAND_MODULES.find((module) => name !== undefined && module.commands.includes(name));
  return named ? [named] : COMMAND_MODULES;
}
