// A small, strict argument parser for the subcommands: `--name value`, `--flag`, nothing else.

export interface ArgSpec {
  [name: string]: 'string' | 'number' | 'boolean';
}

export type ParsedArgs<S extends ArgSpec> = {
  [K in keyof S]?: S[K] extends 'number' ? number : S[K] extends 'boolean' ? boolean : string;
};

export function parseArgs<S extends ArgSpec>(argv: string[], spec: S): ParsedArgs<S> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--'))
      throw new Error(
        `unexpected argument '${arg}'; options are ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    const name = arg.slice(2);
    const kind = spec[name];
    if (!kind)
      throw new Error(
        `unknown option '--${name}'; options are ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    if (kind === 'boolean') {
      out[name] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`option '--${name}' needs a value`);
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`option '--${name}' needs a number, got '${value}'`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out as ParsedArgs<S>;
}

/** Prints a report line: one JSON object with `json`, else `key value` pairs for people. */
export function printer(json: boolean | undefined): (line: Record<string, unknown>) => void {
  return (line) =>
    console.log(
      json
        ? JSON.stringify(line)
        : Object.entries(line)
            .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`)
            .join('  '),
    );
}

/** `on` / `off` for a runtime option, or undefined (the runtime's default) when the flag is absent. */
export function onOff(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== 'on' && value !== 'off') throw new Error(`${flag} takes on or off (absent: the runtime's default), got ${value}`);
  return value === 'on';
}
