/**
 * The front end's version and its check against the server extension's (`GET info`
 * reports the Python package's version). Pure: tested in tests/version.test.ts, which
 * also checks that VERSION is package.json's version.
 */

/** The version of this JupyterLab extension (package.json "version"). */
export const VERSION = '0.1.0';

/** `major.minor.patch` of a Python (`0.2.0.dev1`) or npm (`0.2.0-alpha.1`) version. */
export function releaseOf(version: string): string {
  const match = /^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version);
  return match ? `${match[1]}.${match[2] ?? 0}.${match[3] ?? 0}` : version.trim();
}

/** The warning to show when the server extension's version is not the front end's
 * release, else null. */
export function versionWarning(frontend: string, server: string | undefined): string | null {
  if (server === undefined || server === null) {
    return (
      `voxcat: the server extension did not report its version (the JupyterLab extension is ${frontend}); ` +
      'it is probably older: install the same voxcat in the environment JupyterLab runs from, then restart JupyterLab.'
    );
  }
  if (releaseOf(frontend) === releaseOf(server)) {
    return null;
  }
  return (
    `voxcat: the JupyterLab extension is version ${frontend} but the server extension is ${server}. ` +
    'Install one voxcat version in the environment JupyterLab runs from (pip install --upgrade voxcat), ' +
    'restart JupyterLab and reload this page.'
  );
}
