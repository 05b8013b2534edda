#!/usr/bin/env node
/*
 * Checks the console plugin build: dist/plugin-manifest.json names the plugin, its entry script
 * exists, it carries the extensions of console-extensions.json, and every code reference in them
 * names a module package.json exposes. Run after `npm run build:plugin`.
 */
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const problems = [];
const check = (ok, message) => {
  if (!ok) problems.push(message);
};

const manifestPath = path.join(DIST, 'plugin-manifest.json');
if (!fs.existsSync(manifestPath)) {
  console.error(`${path.relative(ROOT, manifestPath)} is missing: run npm run build:plugin first.`);
  process.exit(1);
}
const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

check(manifest.name === 'flowgate', `name is ${manifest.name}, not flowgate`);
check(manifest.version === pkg.consolePlugin.version, `version ${manifest.version} is not ${pkg.consolePlugin.version}`);
check(manifest.baseURL === '/api/plugins/flowgate/', `baseURL is ${manifest.baseURL}`);
check(
  manifest.dependencies && manifest.dependencies['@console/pluginAPI'] === '>=4.22.0',
  'dependencies["@console/pluginAPI"] is not ">=4.22.0"',
);
for (const script of manifest.loadScripts || []) {
  check(fs.existsSync(path.join(DIST, script)), `load script ${script} is missing from dist/`);
}
check((manifest.loadScripts || []).some((s) => /^plugin-entry\./.test(s)), 'no plugin-entry script in loadScripts');
check(fs.existsSync(path.join(DIST, 'locales', 'en', 'plugin__flowgate.json')), 'locales/en/plugin__flowgate.json not in dist/');

// The manifest carries console-extensions.json as written, and every code reference names a
// module package.json exposes, built into its own chunk.
const extensions = manifest.extensions || [];
const declared = JSON.parse(fs.readFileSync(path.join(ROOT, 'console-extensions.json'), 'utf8'));
check(
  JSON.stringify(extensions) === JSON.stringify(declared),
  'the extensions differ from console-extensions.json',
);
const codeRefs = (value) =>
  value && typeof value === 'object'
    ? Object.entries(value).flatMap(([key, inner]) => (key === '$codeRef' ? [inner] : codeRefs(inner)))
    : [];
for (const ref of codeRefs(extensions)) {
  const module = ref.split('.')[0];
  check(module in pkg.consolePlugin.exposedModules, `$codeRef ${ref} names ${module}, which package.json does not expose`);
  check(
    fs.readdirSync(DIST).some((file) => file.startsWith(`exposed-${module}-chunk-`) && file.endsWith('.js')),
    `no exposed-${module} chunk in dist/`,
  );
}

if (problems.length) {
  for (const problem of problems) console.error(`plugin-manifest.json: ${problem}`);
  process.exit(1);
}
console.log(`dist/plugin-manifest.json: flowgate ${manifest.version}, ${extensions.length} extensions, entry ${manifest.loadScripts.join(', ')}`);
