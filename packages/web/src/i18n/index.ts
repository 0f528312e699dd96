import { shallowRef, watchEffect } from 'vue';
import { en, type Messages } from './en.ts';
import { zh } from './zh.ts';

/** Each language: its own name (shown in the picker) and its strings. */
export const locales = {
  en: { label: 'English', messages: en },
  zh: { label: '中文', messages: zh },
} satisfies Record<string, { label: string; messages: Messages }>;
export type LocaleName = keyof typeof locales;

const STORAGE_KEY = 'edgestelle.locale';

function isLocaleName(name: unknown): name is LocaleName {
  return typeof name === 'string' && Object.hasOwn(locales, name);
}

function initialLocale(): LocaleName {
  if (typeof localStorage === 'undefined') return 'en';
  const stored = localStorage.getItem(STORAGE_KEY);
  if (isLocaleName(stored)) return stored;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const locale = shallowRef<LocaleName>(initialLocale());

/** The strings of the active language; templates read `m.value.fleet.title`. */
export const messages = shallowRef<Messages>(locales[locale.value].messages);

export function setLocale(name: string): void {
  if (isLocaleName(name)) locale.value = name;
}

watchEffect(() => {
  messages.value = locales[locale.value].messages;
  if (typeof document === 'undefined') return;
  document.documentElement.lang = locale.value;
  localStorage.setItem(STORAGE_KEY, locale.value);
});
