/** EDGESTELLE_TEST_LOG_LEVEL turns the fixture's quiet logs up when a test needs reading. */
export function testLogLevel(quiet: string): string {
  return process.env.EDGESTELLE_TEST_LOG_LEVEL ?? quiet;
}
