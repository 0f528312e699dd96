#!/usr/bin/env node
import { buildProgram } from './program.ts';
import { runCli } from './run-cli.ts';

process.exitCode = await runCli(buildProgram(), process.argv, process.stderr);
