import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { launchBrowser, type Browser } from './browser.ts';
import { login } from './console-page.ts';
import { startConsoleStack } from './stack.ts';

/**
 * One console test file's fleet and browser: started before its tests, stopped after them, and
 * no test may leave a Content-Security-Policy violation behind. Read the parts inside tests
 * and hooks; they exist only once the file's `beforeAll` ran.
 */
export class ConsoleSuite {
  #stack: InProcessMaster | undefined;
  #profile: TempDir | undefined;
  #browser: Browser | undefined;

  constructor(agentNames: readonly string[], loginAs?: { username: string; password: string }) {
    beforeAll(async () => {
      this.#stack = await startConsoleStack(agentNames);
      this.#profile = await tempDir('edgestelle-chromium-');
      this.#browser = await launchBrowser(this.#profile.path);
      if (loginAs !== undefined) await login(this.page, this.stack.url, loginAs);
    }, 120_000);
    afterAll(async () => {
      await this.#browser?.[Symbol.asyncDispose]();
      await this.#profile?.[Symbol.asyncDispose]();
      await this.#stack?.[Symbol.asyncDispose]();
    });
    afterEach(() => {
      expect(this.#browser?.violations.splice(0) ?? []).toEqual([]);
    });
  }

  get stack(): InProcessMaster {
    return started(this.#stack);
  }

  get browser(): Browser {
    return started(this.#browser);
  }

  get page(): Page {
    return this.browser.page;
  }
}

function started<T>(part: T | undefined): T {
  if (part === undefined) throw new Error('the console suite is read before its beforeAll ran');
  return part;
}
