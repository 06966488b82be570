// Runs one command module, for `webloco <command>` (main.ts) and `bench <name>` (bench/main.ts):
// parses the arguments against the module's CommandSpec, prints the usage for --help (exit 0),
// the error and a pointer to --help for wrong usage (exit 2), the message of any other failure (exit 1).
import { errorMessage } from '../base/errors.ts';
import { formatUsage, parseCommand, UsageError, type CommandSpec } from './args.ts';

/** A command module: its options and the job, given the parsed values. */
export interface CommandModule {
  command: CommandSpec;
  run(values: Record<string, unknown>): Promise<void>;
}

/** Loads the module, parses `argv` and runs it; sets process.exitCode on failure, never throws. */
export async function runCommandModule(program: string, name: string, load: () => Promise<CommandModule>, argv: string[]): Promise<void> {
  const invocation = `${program} ${name}`;
  try {
    const mod = await load();
    const values = parseCommand(mod.command, argv);
    if (values === 'help') {
      console.log(formatUsage(mod.command));
      return;
    }
    await mod.run(values);
  } catch (err) {
    if (err instanceof UsageError) {
      // parseCommand's messages name the command already; a run's own checks (onOff) do not.
      const message = err.message.startsWith(`${invocation}:`) ? err.message : `${invocation}: ${err.message}`;
      console.error(`${message}\nrun '${invocation} --help' for its options`);
      process.exitCode = 2;
      return;
    }
    console.error(`${invocation}: ${errorMessage(err)}`);
    if (process.env.WEBLOCO_DEBUG) console.error(err);
    process.exitCode = 1;
  }
}
