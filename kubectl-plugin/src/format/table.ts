import Table from 'cli-table3';

// kubectl's table look: no borders, upper-case headers, three spaces between columns.
const CHARS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '   ',
} as const;

/**
 * Renders rows under headers as kubectl does (`NAME   STATE ...`), without trailing spaces. Cells may
 * carry ANSI colours: widths are measured without them.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], indent = ''): string {
  const table = new Table({
    head: [...headers],
    chars: { ...CHARS },
    // No colours from cli-table3 itself: colour is decided by the caller (terminal, NO_COLOR).
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const row of rows) table.push([...row]);
  return `${table
    .toString()
    .split('\n')
    .map((line) => `${indent}${line.trimEnd()}`)
    .join('\n')}\n`;
}
