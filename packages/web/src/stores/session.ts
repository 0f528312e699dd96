import type { Role, SessionDto } from '@edgestelle/protocol';
import { defineStore } from 'pinia';
import { computed, shallowRef } from 'vue';
import { api, http } from '../api/index.ts';
import { WebError } from '../errors.ts';

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const useSessionStore = defineStore('session', () => {
  const session = shallowRef<SessionDto | null>(null);
  /** Whether we asked the master who we are since the page loaded. */
  const checked = shallowRef(false);

  function adopt(next: SessionDto | null): void {
    session.value = next;
    http.setCsrfToken(next?.csrfToken ?? null);
  }

  /** Restores the session after a reload; false when there is none. */
  async function restore(): Promise<boolean> {
    try {
      adopt(await api.me());
      return true;
    } catch (err) {
      if (err instanceof WebError && err.status === 401) {
        adopt(null);
        return false;
      }
      throw err;
    } finally {
      checked.value = true;
    }
  }

  async function login(username: string, password: string): Promise<void> {
    adopt(await api.login({ username, password }));
    checked.value = true;
  }

  async function logout(): Promise<void> {
    try {
      await api.logout();
    } finally {
      adopt(null);
    }
  }

  const role = computed<Role | null>(() => session.value?.user.role ?? null);
  const atLeast = (wanted: Role) => role.value !== null && rank[role.value] >= rank[wanted];

  return {
    session,
    checked,
    role,
    canRun: computed(() => atLeast('operator')),
    isAdmin: computed(() => atLeast('admin')),
    restore,
    login,
    logout,
    forget: () => adopt(null),
  };
});
