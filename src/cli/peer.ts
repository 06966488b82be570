// `webloco peer --hub URL`: a headless participant on the same engine as a browser tab
// (src/run/member.ts). It reads the run from the hub, joins its libp2p swarm (WebSockets to the
// hub, WebRTC to other peers through the hub's relay with --webrtc), starts a session with a
// burner hotkey, registers it on the run's chain, loads the newest checkpoint and replays the
// decisions since, then takes part in N rounds, printing one line per round:
//   {"round","modelHash","bytesUp","bytesDown","peers","direct",...}
// and exits 0. `--behavior` makes it one of the adversaries the Gauntlet must keep out
// (src/engine/adversary.ts). `--authority` pins the run's authority: a hub serving another chain,
// or a checkpoint the chain does not vouch for, is refused with a message saying which.
import { BEHAVIORS, parseBehaviors } from '../engine/adversary.ts';
import { nodeGpuDevice } from '../gpu/node.ts';
import { GpuRuntime } from '../gpu/runtime.ts';
import { createHeadlessMember } from '../run/member.ts';
import { onOff, printer, type CommandSpec, type OptionValues } from './args.ts';
import { AUTHORITY_OPTION, authorityPin } from './authority.ts';

export const command = {
  name: 'peer',
  summary: 'a headless participant: joins the run of the hub at --hub, trains and submits N rounds (one line a round)',
  options: {
    hub: { kind: 'string', placeholder: 'URL', help: "the hub's http address (as `webloco hub` printed it)" },
    authority: AUTHORITY_OPTION,
    rounds: { kind: 'number', default: 1, help: 'rounds to take part in' },
    preset: { kind: 'string', placeholder: 'NAME', help: 'refuse to join unless the run trains this preset' },
    behavior: { kind: 'string', default: 'honest', help: `honest, or an adversary the Gauntlet keeps out: ${BEHAVIORS.join(', ')}` },
    webrtc: { kind: 'boolean', help: 'take part in direct WebRTC links to other peers (default: WebSockets to the hub only)' },
    f16: { kind: 'string', placeholder: 'on|off', help: 'the f16 matmul path (default off)' },
    json: { kind: 'boolean', help: 'one JSON object a line' },
  },
  required: ['hub'],
} satisfies CommandSpec;

export async function run(args: OptionValues<typeof command.options>): Promise<void> {
  const [behavior = 'honest'] = parseBehaviors(args.behavior);
  const print = printer(args.json);
  const authority = authorityPin(args.authority);
  const rt = new GpuRuntime(await nodeGpuDevice(), { f16: onOff('--f16', args.f16) });
  try {
    const member = await createHeadlessMember({
      hubUrl: args.hub!,
      rt,
      behavior,
      preset: args.preset,
      webrtc: args.webrtc ?? false,
      ...(authority ? { authority } : {}),
    });
    try {
      member.participant.addEventListener('round', (e) => print({ ...e.detail }));
      await member.participant.join();
      await member.participant.run(args.rounds);
    } finally {
      await member.stop();
    }
  } finally {
    rt.destroy();
  }
}
