import { ref, watchEffect } from 'vue';

export type ThemeName = 'dark' | 'light';
const STORAGE_KEY = 'edgestelle.theme';

function initialTheme(): ThemeName {
  const stored = localStorage.getItem(STORAGE_KEY);
  if (stored === 'dark' || stored === 'light') return stored;
  return matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

/** The console's theme: Element Plus follows the `dark` class on <html>, xterm follows this ref. */
export const theme = ref<ThemeName>(initialTheme());

watchEffect(() => {
  document.documentElement.classList.toggle('dark', theme.value === 'dark');
  localStorage.setItem(STORAGE_KEY, theme.value);
});

export function toggleTheme(): void {
  theme.value = theme.value === 'dark' ? 'light' : 'dark';
}
