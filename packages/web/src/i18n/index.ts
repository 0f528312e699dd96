import { shallowRef } from 'vue';
import { en, type Messages } from './en.ts';

/** The strings of the active language; templates read `m.value.fleet.title`. */
export const messages = shallowRef<Messages>(en);
