/**
 * The code the "insert code" button puts into a notebook. Pure: tested in
 * tests/code.test.ts (and run by a kernel in the browser test).
 */

/** A Python string literal for any text (JSON string syntax is valid Python). */
export function pythonString(text: string): string {
  return JSON.stringify(text);
}

/** Code that opens the index and reads one dataset lazily. */
export function readCode(index: string, datasetId: string): string {
  return [
    'from catalog import open_catalog',
    '',
    `cat = open_catalog(${pythonString(index)})`,
    `da = cat[${pythonString(datasetId)}].read()`,
    'da'
  ].join('\n');
}
