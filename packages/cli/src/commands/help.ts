/** The "Examples:" block every verb's --help ends with. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}`;
}

/** Commander's collector for repeatable options (`--tag a=1 --tag b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
