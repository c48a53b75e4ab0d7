// Builds web/static/vendor/yjs.mjs, the one module through which the demo
// pages get Yjs without a CDN: all of Yjs (and lib0, which it uses) from
// node_modules, plus the troupe Yjs provider (src/yjs.js), bundled by
// esbuild into a single ES module so that the page and the provider share
// one copy of Yjs. The file is committed; run this after changing the
// provider or the yjs version (npm run web-vendor, or make web-vendor).
// With --check it only compares the committed file with a fresh build and
// fails when they differ (a test runs that).

import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, '..') // clients/js
const out = join(pkg, '..', '..', 'web', 'static', 'vendor', 'yjs.mjs')

/** bundle returns the text of the vendor module. */
export async function bundle() {
  const versions = {}
  for (const name of ['yjs', 'lib0']) {
    versions[name] = JSON.parse(await readFile(join(pkg, 'node_modules', name, 'package.json'), 'utf8')).version
  }
  const licence = await readFile(join(pkg, 'node_modules', 'yjs', 'LICENSE'), 'utf8')
  const lib0Licence = await readFile(join(pkg, 'node_modules', 'lib0', 'LICENSE'), 'utf8')
  const banner = [
    '/*',
    ` * Yjs ${versions.yjs} and lib0 ${versions.lib0}, bundled with the troupe Yjs provider`,
    ' * (clients/js/src/yjs.js) by clients/js/build/web-vendor.js. Do not edit: run',
    ' * `make web-vendor` instead. Exports everything Yjs exports, and TroupeYjsProvider.',
    ' *',
    ' * Yjs:',
    ...licence.trim().split('\n').map((l) => ` * ${l}`.trimEnd()),
    ' *',
    ' * lib0:',
    ...lib0Licence.trim().split('\n').map((l) => ` * ${l}`.trimEnd()),
    ' */',
  ].join('\n')
  const res = await build({
    stdin: {
      contents: "export * from 'yjs'\nexport { TroupeYjsProvider, DEFAULT_SNAPSHOT_EVERY } from './src/yjs.js'\n",
      resolveDir: pkg,
      sourcefile: 'web-vendor-entry.js',
      loader: 'js',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    banner: { js: banner },
    write: false,
    logLevel: 'silent',
  })
  return res.outputFiles[0].text
}

/** main writes the bundle, or with --check compares it with the committed one. */
async function main() {
  const text = await bundle()
  if (process.argv.includes('--check')) {
    const committed = await readFile(out, 'utf8').catch(() => '')
    if (committed !== text) {
      process.stderr.write(`${out} is not what the build makes: run make web-vendor\n`)
      process.exit(1)
    }
    return
  }
  await mkdir(dirname(out), { recursive: true })
  await writeFile(out, text)
  process.stdout.write(`wrote ${out} (${text.length} bytes)\n`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`)
    process.exit(1)
  })
}
