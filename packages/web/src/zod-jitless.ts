import { z } from 'zod';

// zod compiles object parsers with `new Function` unless told not to, and even its probe for
// eval is refused and reported under the master's Content-Security-Policy (no 'unsafe-eval').
// main.ts imports this first: a schema reads the setting when it is built, at module load.
z.config({ jitless: true });
