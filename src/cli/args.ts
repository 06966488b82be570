// The subcommands' options: each command declares its options once (kind, help, default), and
// node:util's parseArgs reads them strictly (an unknown option or a missing value is an error).
// `--help` on any command prints the usage generated from the same declaration and exits 0.
import { parseArgs as nodeParseArgs } from 'node:util';
import { CodedError } from '../base/errors.ts';
import { RUN_SETTING_NAMES, RUN_SETTINGS, type RunShape } from '../run/settings.ts';

export interface OptionSpec {
  kind: 'string' | 'number' | 'boolean';
  help: string;
  /** Applied when the option is absent (and shown in the usage). */
  default?: string | number | boolean;
  /** Shown in the usage when there is no default to show (`URL`, `N`, `on|off`). */
  placeholder?: string;
  /** Shown in the usage without being applied: the command or a stored run decides. */
  shownDefault?: string | number;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface CommandSpec<O extends OptionSpecs = OptionSpecs> {
  name: string;
  /** The program the command belongs to, in its usage and errors (default `webloco`; the benchmarks are `bench`). */
  program?: string;
  /** One line: what the command does (also `webloco --help`'s list). */
  summary: string;
  options: O;
  /** Options the command cannot run without. */
  required?: (keyof O & string)[];
  /** Paragraphs after the options. */
  details?: string[];
}

type ValueOf<S extends OptionSpec> = S['kind'] extends 'number' ? number : S['kind'] extends 'boolean' ? boolean : string;

/** Parsed values: an option with a default is always present, the others may be absent. */
export type OptionValues<O extends OptionSpecs> = {
  [K in keyof O]: O[K] extends { default: string | number | boolean } ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

/** Wrong usage of a command: main prints the message and a pointer to --help, and exits 2. */
export class UsageError extends CodedError<'usage'> {
  constructor(message: string) {
    super('usage', message);
  }
}

/** `webloco train`, `bench codec`: how the command is invoked, for its usage and its errors. */
function commandLine(spec: Pick<CommandSpec, 'program' | 'name'>): string {
  return `${spec.program ?? 'webloco'} ${spec.name}`;
}

/** The command's values, or 'help' when --help (or -h) was asked for. Throws UsageError. */
export function parseCommand<O extends OptionSpecs>(spec: CommandSpec<O>, argv: string[]): OptionValues<O> | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  let parsed: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(spec.options).map(([name, o]) => [name, { type: o.kind === 'boolean' ? 'boolean' : 'string' } as const]),
    );
    parsed = nodeParseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(`${commandLine(spec)}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const raw = parsed[name];
    if (raw === undefined) {
      values[name] = o.default;
    } else if (o.kind === 'number') {
      const n = Number(raw);
      if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n))
        throw new UsageError(`${commandLine(spec)}: --${name} needs a number, got '${String(raw)}'`);
      values[name] = n;
    } else {
      values[name] = raw;
    }
  }
  for (const name of spec.required ?? []) {
    if (values[name] === undefined) throw new UsageError(`${commandLine(spec)}: --${name} is required`);
  }
  return values as OptionValues<O>;
}

/** The command's usage: a line per option with its default or placeholder, then the details. */
export function formatUsage<O extends OptionSpecs>(spec: CommandSpec<O>): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const value = o.kind === 'boolean' ? '' : ` ${o.placeholder ?? o.default ?? o.shownDefault ?? (o.kind === 'number' ? 'N' : 'VALUE')}`;
    return [`--${name}${value}`, o.help + (spec.required?.includes(name) ? ' (required)' : '')] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length), 0);
  return [
    `usage: ${commandLine(spec)} ${spec.required?.map((r) => `--${r} ${spec.options[r]?.placeholder ?? 'VALUE'}`).join(' ') ?? ''}${rows.length > (spec.required?.length ?? 0) ? ' [options]' : ''}`
      .replace(/ {2,}/g, ' ')
      .trimEnd(),
    '',
    spec.summary,
    '',
    'options:',
    ...rows.map(([left, help]) => `  ${left.padEnd(width)}  ${help}`),
    `  ${'--help'.padEnd(width)}  print this and exit`,
    ...(spec.details?.length ? ['', ...spec.details] : []),
  ].join('\n');
}

/** The run settings as options (their defaults shown, not applied: a stored run keeps its own). */
export function runSettingOptions(defaults: Partial<RunShape> = {}): OptionSpecs {
  return Object.fromEntries(
    RUN_SETTING_NAMES.map((name) => {
      const s = RUN_SETTINGS[name];
      return [
        s.flag,
        {
          kind: typeof s.default === 'number' ? 'number' : 'string',
          help: s.help,
          shownDefault: defaults[name] ?? s.default,
        } satisfies OptionSpec,
      ];
    }),
  );
}

/** The run settings given on the command line (by their flags), for the defaults or a stored run to complete. */
export function runSettingsFrom(values: Record<string, unknown>): Partial<RunShape> {
  const out: Record<string, unknown> = {};
  for (const name of RUN_SETTING_NAMES) if (values[RUN_SETTINGS[name].flag] !== undefined) out[name] = values[RUN_SETTINGS[name].flag];
  return out;
}

/** Prints a report line: one JSON object with `json`, else `key value` pairs for people. */
export function printer(json: boolean | undefined): (line: Record<string, unknown>) => void {
  return (line) =>
    console.log(
      json
        ? JSON.stringify(line)
        : Object.entries(line)
            .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v)}`)
            .join('  '),
    );
}

/** `on` / `off` for a runtime option, or undefined (the runtime's default) when the flag is absent. */
export function onOff(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw new UsageError(`${flag} takes on or off (absent: the runtime's default), got ${value}`);
  return value === 'on';
}
