import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router';
import { useSessionStore } from './stores/session.ts';

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without a session. */
    public?: boolean;
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/fleet' },
    { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true } },
    { path: '/fleet', name: 'fleet', component: () => import('./pages/FleetPage.vue') },
    { path: '/nodes/:nodeId', name: 'node', component: () => import('./pages/NodePage.vue'), props: true },
    { path: '/nodes/:nodeId/shell', name: 'shell', component: () => import('./pages/ShellPage.vue'), props: true },
    {
      path: '/shell-sessions/:sessionId',
      name: 'shell-replay',
      component: () => import('./pages/ShellReplayPage.vue'),
      props: true,
    },
    { path: '/run', name: 'run', component: () => import('./pages/RunPage.vue') },
    { path: '/jobs/:jobId', name: 'job', component: () => import('./pages/JobPage.vue'), props: true },
    { path: '/search', name: 'search', component: () => import('./pages/SearchPage.vue') },
    { path: '/scripts', name: 'scripts', component: () => import('./pages/ScriptsPage.vue') },
    { path: '/schedules', name: 'schedules', component: () => import('./pages/SchedulesPage.vue') },
    { path: '/history', name: 'history', component: () => import('./pages/HistoryPage.vue') },
    { path: '/admin', name: 'admin', component: () => import('./pages/AdminPage.vue') },
    { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue') },
  ],
});

/** Where to send someone without a session, keeping where they were going. */
export function loginRoute(from: Pick<RouteLocationNormalized, 'fullPath'>) {
  return { name: 'login', query: from.fullPath === '/' ? {} : { redirect: from.fullPath } };
}

router.beforeEach(async (to) => {
  const session = useSessionStore();
  if (!session.checked) await session.restore();
  if (to.meta.public === true || session.session !== null) return true;
  return loginRoute(to);
});
