import { ElMessage } from 'element-plus';
import { ref } from 'vue';
import { sessionExpired } from '../api/index.ts';
import { messages } from '../i18n/index.ts';
import { LiveClient, liveUrl, type LiveStatus } from './live-client.ts';

/** The console's one live-hub connection, opened on the first subscription. */
export const live = new LiveClient({
  url: liveUrl(window.location),
  onUnauthenticated: () => sessionExpired.dispatchEvent(new Event('expired')),
  onForbiddenOrigin: () =>
    ElMessage({ message: messages.value.errors.forbiddenOrigin, type: 'error', showClose: true, duration: 0 }),
});

export const liveStatus = ref<LiveStatus>(live.status);
live.onStatus((status) => (liveStatus.value = status));
