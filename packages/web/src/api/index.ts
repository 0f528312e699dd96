import { ElMessage } from 'element-plus';
import 'element-plus/es/components/message/style/css';
import { createApi } from './endpoints.ts';
import { HttpClient } from './http.ts';

/** Fired when the master answers 401: the router listens and sends the operator to the login page. */
export const sessionExpired = new EventTarget();

export const http = new HttpClient({
  onUnauthenticated: () => sessionExpired.dispatchEvent(new Event('expired')),
  // grouping: the same failure repeated (e.g. every poll while the master is down) shows once.
  onError: (message) => ElMessage({ message, type: 'error', grouping: true, showClose: true, duration: 6000 }),
});

export const api = createApi(http);
