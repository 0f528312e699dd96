/**
 * A metric from a Prometheus text exposition (what `/metrics` serves), summed over the label
 * sets that contain `labels` (e.g. `reason="envelope_auth_failed"`); 0 when absent.
 */
export function metricSum(text: string, name: string, labels = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels !== '' && !rest.includes(labels)) continue;
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}
