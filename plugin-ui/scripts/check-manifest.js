#!/usr/bin/env node
/*
 * Checks the console plugin build: dist/plugin-manifest.json names the plugin, its entry script
 * exists, and it carries the three extensions with the NetworkFlowsPage code reference that
 * package.json exposes. Run after `npm run build:plugin`.
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
check(
  pkg.consolePlugin.exposedModules.NetworkFlowsPage === './components/NetworkFlowsPage',
  'package.json does not expose NetworkFlowsPage as ./components/NetworkFlowsPage',
);
for (const script of manifest.loadScripts || []) {
  check(fs.existsSync(path.join(DIST, script)), `load script ${script} is missing from dist/`);
}
check((manifest.loadScripts || []).some((s) => /^plugin-entry\./.test(s)), 'no plugin-entry script in loadScripts');
check(
  fs.readdirSync(DIST).some((file) => /^exposed-NetworkFlowsPage-chunk-.*\.js$/.test(file)),
  'no exposed-NetworkFlowsPage chunk in dist/',
);
check(fs.existsSync(path.join(DIST, 'locales', 'en', 'plugin__flowgate.json')), 'locales/en/plugin__flowgate.json not in dist/');

const extensions = manifest.extensions || [];
const ofType = (type) => extensions.filter((e) => e.type === type);
const [flag] = ofType('console.flag/model');
check(
  flag &&
    flag.properties.flag === 'FLOWGATE' &&
    flag.properties.model.group === 'flowgate.dev' &&
    flag.properties.model.version === 'v1alpha1' &&
    flag.properties.model.kind === 'FlowExport',
  'console.flag/model FLOWGATE for flowgate.dev/v1alpha1 FlowExport is missing',
);
const [nav] = ofType('console.navigation/href');
check(
  nav &&
    nav.properties.id === 'network-flows' &&
    nav.properties.perspective === 'admin' &&
    nav.properties.section === 'networking' &&
    nav.properties.name === '%plugin__flowgate~Network Flows%' &&
    nav.properties.href === '/flowgate/network-flows' &&
    JSON.stringify(nav.flags) === JSON.stringify({ required: ['FLOWGATE'] }),
  'console.navigation/href network-flows is missing or differs',
);
const [route] = ofType('console.page/route');
check(
  route &&
    route.properties.path === '/flowgate/network-flows' &&
    route.properties.component &&
    route.properties.component.$codeRef === 'NetworkFlowsPage' &&
    JSON.stringify(route.flags) === JSON.stringify({ required: ['FLOWGATE'] }),
  'console.page/route /flowgate/network-flows with $codeRef NetworkFlowsPage is missing or differs',
);
check(extensions.length === 3, `${extensions.length} extensions, expected 3`);

if (problems.length) {
  for (const problem of problems) console.error(`plugin-manifest.json: ${problem}`);
  process.exit(1);
}
console.log(`dist/plugin-manifest.json: flowgate ${manifest.version}, ${extensions.length} extensions, entry ${manifest.loadScripts.join(', ')}`);
