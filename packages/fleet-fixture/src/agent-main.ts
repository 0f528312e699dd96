/** Runs `edgestelle agent` exactly as the CLI does, for tests that kill the agent process. */
import { main } from '@edgestelle/agent';

process.exitCode = await main(process.argv.slice(2));
