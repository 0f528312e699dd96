import { onBeforeUnmount, onMounted, shallowRef, type Ref } from 'vue';

/** The current time, refreshed every `intervalMs` while the component is mounted. */
export function useNow(intervalMs = 5_000): Ref<number> {
  const now = shallowRef(Date.now());
  let timer: ReturnType<typeof setInterval> | null = null;
  onMounted(() => {
    timer = setInterval(() => (now.value = Date.now()), intervalMs);
  });
  onBeforeUnmount(() => {
    if (timer !== null) clearInterval(timer);
  });
  return now;
}
