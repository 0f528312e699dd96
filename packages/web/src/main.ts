import './zod-jitless.ts';
import 'element-plus/theme-chalk/dark/css-vars.css';
import './ui/styles.css';
import { describeError } from '@edgestelle/protocol';
import { ElMessage } from 'element-plus';
import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { sessionExpired } from './api/index.ts';
import { WebError } from './errors.ts';
import { loginRoute, router } from './router.ts';
import { useSessionStore } from './stores/session.ts';
import './ui/theme.ts';

const app = createApp(App);

/** A failed request was already reported by the HTTP client (a toast, or the login page). */
function report(err: unknown): void {
  if (err instanceof WebError) return;
  ElMessage({ message: describeError(err), type: 'error', grouping: true, showClose: true });
}
app.config.errorHandler = report;
window.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  report(event.reason);
});
app.use(createPinia());
app.use(router);

// A 401 from the API or the live hub: back to the login page, then back to this very page.
sessionExpired.addEventListener('expired', () => {
  const session = useSessionStore();
  if (session.session === null) return;
  session.forget();
  const current = router.currentRoute.value;
  if (current.meta.public !== true) void router.push(loginRoute(current));
});

app.mount('#app');
