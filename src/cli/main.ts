// `webloco <command>`: one entry point for every Node-side job. Each command lives in its own
// module, loaded only when it runs, that exports its options (`command`, a CommandSpec) and
// `run(values)`; main parses the arguments against the spec, so `webloco <command> --help` prints
// the command's usage and wrong usage exits 2 before anything starts.
import { runCommandModule, type CommandModule } from './dispatch.ts';

/** The summaries live here, not in the modules, so that `webloco --help` loads none of them (test/cli checks they agree). */
type Command = { summary: string; load: () => Promise<CommandModule> };

const COMMANDS: Record<string, Command> = {
  'gpu-info': { summary: 'print the WebGPU adapter, features and limits as JSON', load: () => import('./gpu-info.ts') },
  data: { summary: 'tokenize the Brown corpus into verified shards under public/data/', load: () => import('./data.ts') },
  train: { summary: 'centralized training on this machine (the baseline); JSON lines with --json', load: () => import('./train.ts') },
  eval: { summary: 'held-out loss and model hash of a checkpoint (folder or .safetensors file)', load: () => import('./eval.ts') },
  simulate: {
    summary: 'a SparseLoCo swarm of N peers in this process vs the centralized baseline at equal tokens',
    load: () => import('./simulate.ts'),
  },
  hub: {
    summary:
      'a hub for a run: relay, gossip, object store, the app and GET /api/run; the first hub of a run hosts its chain and decides its rounds',
    load: () => import('./hub.ts'),
  },
  demo: {
    summary:
      "a local swarm for a screen: a hub with the Gauntlet and N headless Chromium peers joining with burner keys; prints the wall's URL",
    load: () => import('./demo.ts'),
  },
  peer: {
    summary: 'a headless participant: joins the run of the hub at --hub, trains and submits N rounds (one line a round)',
    load: () => import('./peer.ts'),
  },
  validator: {
    summary:
      'a Gauntlet validator of its own following the run of the hub at --hub: judges each decided round on this GPU and says whether it agrees',
    load: () => import('./validator.ts'),
  },
  audit: {
    summary: "re-score a past round from public data and compare with what the hub's Gauntlet published; exits 1 on a mismatch",
    load: () => import('./audit.ts'),
  },
  grads: {
    summary: 'gradient of the mean next-token loss of a batch, for checking against another implementation; prints {"loss"}',
    load: () => import('./grads.ts'),
  },
};

/** The commands, in `webloco --help`'s order. */
export const COMMAND_NAMES = Object.keys(COMMANDS);

function usage(): string {
  const width = Math.max(...COMMAND_NAMES.map((c) => c.length));
  return [
    'usage: webloco <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "run 'webloco <command> --help' for a command's options",
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`webloco: unknown command '${name}'\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  await runCommandModule('webloco', name, command.load, rest);
}
