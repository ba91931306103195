/**
 * The benchmarks' command lines: each option in turn, with a reader of its
 * value (the next argument) that throws when there is none.
 */
export function eachOption(argv: readonly string[], handle: (option: string, value: () => string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const option = argv[i];
    handle(option, () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${option} needs a value`);
      return x;
    });
  }
}

/** An on|off switch's value as a boolean; anything else throws, naming the option. */
export function onOff(option: string, value: string): boolean {
  if (value !== 'on' && value !== 'off') throw new Error(`${option} takes on or off, got ${value}`);
  return value === 'on';
}
