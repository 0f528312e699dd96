/** `line 1` … `line n`, as the scripts in these tests print them. */
export function expectedLines(n: number, label: string): string {
  let text = '';
  for (let i = 1; i <= n; i += 1) text += `${label} line ${i}\n`;
  return text;
}
