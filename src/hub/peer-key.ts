// The hub's libp2p identity, kept in its data dir so that its peer id (and with it every
// multiaddr peers were given) survives restarts. The file holds the key in libp2p's protobuf
// form and is readable by the owner only.
import { errorMessage } from '../base/errors.ts';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, 'peer-key');
  try {
    return privateKeyFromProtobuf(new Uint8Array(await readFile(path)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(
        `cannot read the hub's peer key ${path}: ${errorMessage(err)}; restore it from a backup or delete it to start with a new peer id`,
        {
          cause: err,
        },
      );
    }
  }
  const key = await generateKeyPair('Ed25519');
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
  return key;
}
