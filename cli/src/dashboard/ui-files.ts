// The dashboard page's files, kept in ui/: index.html, style.css and app.ts, the browser script.
//
// The browser runs JavaScript, so app.ts is bundled by esbuild, in one of two ways:
// - built (dist/, the published CLI): scripts/build.ts writes ui/app.js with bundleApp() and copies the HTML
//   and CSS beside it; the server reads the three files. esbuild, a dev dependency, is not needed there.
// - from sources (`node cli/src/bin.ts`, Node's type stripping, as the tests run it): the server bundles app.ts
//   when it starts (tens of milliseconds). A dist/ that is out of date, or missing, can then never be served by
//   mistake, and esbuild is there wherever the sources are.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const UI = new URL('./ui/', import.meta.url);

/** What the page is drawn for. */
export interface PageMode {
  /** the request carried the token: the write buttons are shown */
  readonly write: boolean;
  /** the token is needed to read, and the request lacks it */
  readonly signedOut: boolean;
  /** the dashboard has a token at all */
  readonly writable: boolean;
}

/** The page's files, as served. */
export interface UiFiles {
  page(mode: PageMode): string;
  readonly css: string;
  readonly js: string;
}

/** Bundles ui/app.ts (of the sources) into one browser script. */
export async function bundleApp(): Promise<string> {
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [fileURLToPath(new URL('app.ts', UI))],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
  });
  const js = out.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild wrote no app.js');
  return js;
}

/** Reads the page's files: from dist/ when this module is built, else bundling app.ts now. */
export async function loadUiFiles(): Promise<UiFiles> {
  const fromSources = import.meta.url.endsWith('.ts');
  const [html, css, js] = await Promise.all([
    readFile(new URL('index.html', UI), 'utf8'),
    readFile(new URL('style.css', UI), 'utf8'),
    fromSources ? bundleApp() : readFile(new URL('app.js', UI), 'utf8'),
  ]);
  const modeText = (m: PageMode): string => {
    if (m.signedOut) return 'signed out';
    if (m.write) return '';
    return m.writable ? 'read-only: open /?token=<token> once to act on jobs' : 'read-only (start with --token to act on jobs)';
  };
  return {
    page: (m) => html.replace('{{write}}', m.write ? '1' : '0').replace('{{signedOut}}', m.signedOut ? '1' : '0').replace('{{mode}}', modeText(m)),
    css,
    js,
  };
}
