// What a peer says of itself (POST /api/peers/status), on a real hub with its dev chain: a
// registered session's signed status shows on the wall beside what the chain says (paused and
// why); anything else is refused with its reason and changes nothing: a status signed by another
// key (403), by a binding the chain never registered (404), an older or replayed one (409), one
// for another run or malformed (400), one over 2 KiB (413), and a GET (405).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../src/hub/hub.ts';
import { createBurnerSigner } from '../../src/identity/burner.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { PEER_STATUS_KIND, signPeerStatus, type PeerStatus } from '../../src/identity/peer-status.ts';
import { Session } from '../../src/identity/session.ts';
import type { WallView } from '../../src/run/api.ts';

const RUN = 'test-peer-status';

function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `webloco-${name}-`));
}

describe('POST /api/peers/status', () => {
  let hub: Hub;
  let session: Session;
  let stranger: Session;

  beforeAll(async () => {
    const appDir = tempDir('app');
    writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>WebLoCo</title>');
    hub = await startHub({ port: 0, dataDir: tempDir('peer-status'), appDir, runId: RUN, run: { bindingWorkBits: 0 } });
    const start = async () => Session.start(await createBurnerSigner(), { run: RUN, peer: SigningKey.generate('ed25519') });
    [session, stranger] = [await start(), await start()];
    await hub.chain!.register(session.signed); // the stranger never registers
  });

  afterAll(async () => {
    await hub?.stop();
  });

  const statusOf = (s: Session, fields: Partial<PeerStatus>): PeerStatus => ({
    kind: PEER_STATUS_KIND,
    run: RUN,
    binding: s.id,
    at: Date.now(),
    state: 'paused',
    reasons: ['battery', 'heat'],
    intensity: 50,
    pressure: 'critical',
    gpuRecoveries: 1,
    gpuBusy: 912,
    ...fields,
  });
  const post = (body: unknown) =>
    fetch(`${hub.http}/api/peers/status`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  const shown = async () => {
    const wall = (await (await fetch(`${hub.http}/api/wall`)).json()) as WallView;
    return wall.peers.find((p) => p.hotkey === session.signed.binding.hotkey)!.status;
  };

  it("keeps a registered session's signed status and the wall shows it as the peer's word", async () => {
    expect(await shown()).toBeNull();
    const status = statusOf(session, {});
    const res = await post(signPeerStatus(session.key, status));
    expect(res.status).toBe(204);
    expect(await shown()).toEqual({
      state: 'paused',
      reasons: ['battery', 'heat'],
      intensity: 50,
      pressure: 'critical',
      gpuRecoveries: 1,
      gpuBusy: 912,
      at: status.at,
      stale: false,
    });
    // The swarm's utilisation on the wall is the mean of what its peers said.
    const wall = (await (await fetch(`${hub.http}/api/wall`)).json()) as WallView;
    expect(wall.gpuBusy).toEqual({ mean: 0.912, peers: 1 });
    const later = statusOf(session, { at: status.at + 1, state: 'training', reasons: [], intensity: 100, pressure: 'nominal' });
    expect((await post(signPeerStatus(session.key, later))).status).toBe(204);
    expect(await shown()).toMatchObject({ state: 'training', reasons: [], at: later.at });
  });

  it('refuses what it cannot take, says why, and keeps the last status it took', async () => {
    const before = await shown();
    const at = before!.at + 1_000;
    const refusal = async (body: unknown) => {
      const res = await post(body);
      return [res.status, ((await res.json()) as { error: string }).error] as const;
    };
    // Signed by the stranger's key for the registered binding: not that binding's session key.
    expect(await refusal(signPeerStatus(stranger.key, statusOf(session, { at })))).toEqual([
      403,
      expect.stringMatching(/not signed by the session key/),
    ]);
    expect(await refusal(signPeerStatus(stranger.key, statusOf(stranger, { at })))).toEqual([404, expect.stringMatching(/not registered/)]);
    expect(await refusal(signPeerStatus(session.key, statusOf(session, { at: before!.at })))).toEqual([
      409,
      expect.stringMatching(/already said/),
    ]);
    expect(await refusal(signPeerStatus(session.key, statusOf(session, { at, run: 'another-run' })))).toEqual([
      400,
      expect.stringMatching(/run 'another-run'/),
    ]);
    expect(await refusal(signPeerStatus(session.key, statusOf(session, { at: Date.now() + 3_600_000 })))).toEqual([
      400,
      expect.stringMatching(/ahead of the hub's clock/),
    ]);
    expect(await refusal({ status: { ...statusOf(session, { at }), reasons: [] }, signature: '0x00' })).toEqual([
      400,
      expect.stringMatching(/reasons/),
    ]);
    expect(await refusal({ status: statusOf(session, { at, gpuBusy: 1001 }), signature: '0x00' })).toEqual([
      400,
      expect.stringMatching(/gpuBusy/),
    ]);
    expect(await refusal('{"status":')).toEqual([400, expect.stringMatching(/not JSON/)]);
    expect(await refusal('x'.repeat(3_000))).toEqual([413, expect.stringMatching(/at most 2048 bytes/)]);
    expect((await fetch(`${hub.http}/api/peers/status`)).status).toBe(405);
    expect(await shown()).toEqual(before);
  });
});
