export { buildProgram, type CliIo } from './program.js';
