/** Time the master sees: real time plus an offset a test can move forward. */
export class TestClock {
  offsetMs = 0;
  now = (): number => Date.now() + this.offsetMs;
}
