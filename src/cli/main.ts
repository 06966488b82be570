// `webloco <command>`: one entry point for every Node-side job. Each command lives in its own
// module, loaded only when it runs, and exports `run(argv)`.

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<void> }> };

const COMMANDS: Record<string, Command> = {
  'gpu-info': { summary: 'print the WebGPU adapter, features and limits as JSON', load: () => import('./gpu-info.ts') },
  data: {
    summary: 'tokenize the Brown corpus into verified shards under public/data/ (--tokenizer bytes|gpt2|all, --out DIR)',
    load: () => import('./data.ts'),
  },
  train: { summary: 'centralized training on this machine (the baseline); JSON lines with --json', load: () => import('./train.ts') },
  eval: { summary: 'held-out loss and model hash of a checkpoint (folder or .safetensors file)', load: () => import('./eval.ts') },
  simulate: {
    summary:
      'a SparseLoCo swarm of N peers in this process vs the centralized baseline at equal tokens (--peers, --rounds, --preset, --json)',
    load: () => import('./simulate.ts'),
  },
  hub: {
    summary:
      'a hub for a run: relay, gossip, object store, the app and GET /api/run (--port, --data-dir, --bootstrap, --run-id, --preset); first line JSON',
    load: () => import('./hub.ts'),
  },
  demo: {
    summary:
      "a local swarm for a screen: a hub with the Gauntlet and N headless Chromium peers joining with burner keys; prints the wall's URL (--peers N)",
    load: () => import('./demo.ts'),
  },
  peer: {
    summary: 'a headless participant: joins the run of the hub at --hub, trains and submits N rounds (--rounds N --json)',
    load: () => import('./peer.ts'),
  },
  validator: {
    summary:
      'a Gauntlet validator of its own following the run of the hub at --hub: judges each decided round on this GPU and says whether it agrees (--rounds N --json)',
    load: () => import('./validator.ts'),
  },
  audit: {
    summary:
      "re-score a past round from public data and compare with what the hub's Gauntlet published (--hub URL --round R); exits 1 on a mismatch",
    load: () => import('./audit.ts'),
  },
  grads: {
    summary: 'gradient of the mean next-token loss of a batch (--config, --weights, --tokens, --out safetensors); prints {"loss"}',
    load: () => import('./grads.ts'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'usage: webloco <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
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
  try {
    await (await command.load()).run(rest);
  } catch (err) {
    console.error(`webloco ${name}: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.WEBLOCO_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
