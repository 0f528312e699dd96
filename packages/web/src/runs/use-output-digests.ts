import type { RunDto } from '@edgestelle/protocol';
import { onBeforeUnmount, shallowRef, watch, type Ref, type ShallowRef } from 'vue';
import { api } from '../api/index.ts';
import { sha256Hex } from './output-groups.ts';

/** Grouping fetches each run's whole output once: past this many runs it is not offered. */
export const GROUPING_MAX_RUNS = 1_000;

/**
 * Digests of the stored output of every complete run, fetched one run at a time while
 * `enabled` is on, so grouping a big job never floods the master.
 */
export function useOutputDigests(runs: Ref<readonly RunDto[]>, enabled: Ref<boolean>): ShallowRef<Map<string, string>> {
  const digests = shallowRef(new Map<string, string>());
  let pumping = false;
  let mounted = true;
  onBeforeUnmount(() => (mounted = false));

  const next = (): RunDto | undefined =>
    runs.value.slice(0, GROUPING_MAX_RUNS).find((run) => run.complete && !digests.value.has(run.runId));

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      for (let run = next(); mounted && enabled.value && run !== undefined; run = next()) {
        const digest = await sha256Hex(await api.rawOutput(run.runId));
        digests.value = new Map(digests.value).set(run.runId, digest);
      }
    } finally {
      pumping = false;
    }
  }

  watch([runs, enabled], () => void pump(), { immediate: true });
  return digests;
}
