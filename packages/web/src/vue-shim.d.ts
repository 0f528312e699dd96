// For tools that read the .ts files without Vue's language service (typed ESLint); vue-tsc
// resolves the real .vue files and never uses this.
declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent;
  export default component;
}
