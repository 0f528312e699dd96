import type { NodeDto } from '@edgestelle/protocol';
import { defineStore } from 'pinia';
import { computed, shallowRef, triggerRef } from 'vue';
import { api } from '../api/index.ts';
import { nodeStatus } from '../fleet/node-view.ts';
import { live } from '../live/index.ts';

/**
 * Every node, kept current by the live hub. Nodes live in a shallow Map (10,000 reactive
 * objects would cost more than the table); live updates are applied once per frame.
 */
export const useFleetStore = defineStore('fleet', () => {
  const nodes = shallowRef(new Map<string, NodeDto>());
  const loaded = shallowRef(false);
  /** Nodes picked on the fleet page for the next run. */
  const selection = shallowRef(new Set<string>());
  let pending = new Map<string, NodeDto>();
  let frame: number | null = null;
  let unsubscribe: (() => void) | null = null;

  function applyPending(): void {
    frame = null;
    for (const [nodeId, node] of pending) nodes.value.set(nodeId, node);
    pending = new Map();
    triggerRef(nodes);
  }

  async function start(): Promise<void> {
    if (unsubscribe !== null) return;
    unsubscribe = live.subscribeNodes((node) => {
      pending.set(node.nodeId, node);
      frame ??= requestAnimationFrame(applyPending);
    });
    let list: NodeDto[];
    try {
      list = await api.listNodes();
    } catch (err) {
      // Let the next page that needs the fleet try again.
      stop();
      throw err;
    }
    const next = new Map(list.map((node) => [node.nodeId, node]));
    // Live updates that raced the list are newer than it.
    for (const [nodeId, node] of pending) next.set(nodeId, node);
    pending = new Map();
    nodes.value = next;
    loaded.value = true;
  }

  function stop(): void {
    unsubscribe?.();
    unsubscribe = null;
    if (frame !== null) cancelAnimationFrame(frame);
    frame = null;
  }

  const list = computed(() =>
    [...nodes.value.values()].sort((a, b) => a.name.localeCompare(b.name) || a.nodeId.localeCompare(b.nodeId)),
  );
  const counts = computed(() => {
    let online = 0;
    let offline = 0;
    for (const node of nodes.value.values()) {
      const status = nodeStatus(node);
      if (status === 'online' || status === 'busy') online += 1;
      else if (status === 'offline') offline += 1;
    }
    return { online, offline };
  });

  function setSelection(nodeIds: Iterable<string>): void {
    selection.value = new Set(nodeIds);
  }

  return { nodes, list, counts, loaded, selection, setSelection, start, stop };
});
