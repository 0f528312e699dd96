/** Tells open connections (the live hub) that a token, session or user stopped working or changed. */
export class Revocations {
  private readonly listeners: Array<() => void> = [];

  on(listener: () => void): void {
    this.listeners.push(listener);
  }

  notify(): void {
    for (const listener of this.listeners) listener();
  }
}
