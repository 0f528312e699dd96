import { ElMessage } from 'element-plus';
import { ref } from 'vue';
import { api, sessionExpired } from '../api/index.ts';
import { messages } from '../i18n/index.ts';
import { LiveClient, liveUrl, type LiveStatus } from './live-client.ts';

/** The console's one live-hub connection, opened on the first subscription. */
export const live = new LiveClient({
  url: liveUrl(window.location),
  onUnauthenticated: () => sessionExpired.dispatchEvent(new Event('expired')),
  onForbiddenOrigin: () =>
    ElMessage({ message: messages.value.errors.forbiddenOrigin, type: 'error', showClose: true, duration: 0 }),
  // If the session is gone, this 401 ends it through the HTTP client; any other failure was
  // already shown there, and the hub keeps retrying with backoff either way.
  onConnectFailed: () =>
    void api.me().then(
      () => undefined,
      () => undefined,
    ),
});

export const liveStatus = ref<LiveStatus>(live.status);
live.onStatus((status) => (liveStatus.value = status));
