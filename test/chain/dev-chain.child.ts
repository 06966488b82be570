// Run by crash.test.ts as a separate Node process, to be killed with SIGKILL at random instants:
// opens the dev chain in the data dir given as argv[2] (block time argv[3] ms), registers a fresh
// burner session every third block so blocks carry extrinsics, and prints one JSON line per
// block as the chain announces it ({height, hash}), after a first line {ready: height}.
import { createBurnerSigner } from '../../src/identity/burner.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { Session } from '../../src/identity/session.ts';
import { DevChain } from '../../src/chain/dev-chain.ts';

const [dataDir, blockTimeMs] = process.argv.slice(2);
if (!dataDir || !blockTimeMs) throw new Error('usage: dev-chain.child.ts <data dir> <block time ms>');
const chain = await DevChain.open({
  dataDir,
  run: 'crash-test',
  blocksPerRound: 5,
  blockTimeMs: Number(blockTimeMs),
  bindingWorkBits: 4,
});
const write = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
chain.onBlock((block) => {
  write({ height: block.height, hash: block.hash });
  if (block.height % 3 === 0) {
    void (async () => {
      const session = await Session.start(await createBurnerSigner(), {
        run: 'crash-test',
        peer: SigningKey.generate('ed25519'),
        workBits: 4,
      });
      await chain.register(session.signed);
    })().catch(() => {}); // a registration cut short by the kill is simply lost
  }
});
write({ ready: chain.headBlock().height, hash: chain.headBlock().hash });
chain.start();
