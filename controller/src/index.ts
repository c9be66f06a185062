export { buildProgram, CliError, type CliIo } from './program.js';
