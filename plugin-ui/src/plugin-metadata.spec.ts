import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');
const read = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));

interface PackageJson {
  name: string;
  consolePlugin: {
    name: string;
    version: string;
    displayName: string;
    description: string;
    exposedModules: Record<string, string>;
    dependencies: Record<string, string>;
  };
}

interface Extension {
  type: string;
  properties: Record<string, unknown>;
  flags?: { required?: string[] };
}

describe('console plugin metadata', () => {
  const pkg = read('package.json') as PackageJson;
  const extensions = read('console-extensions.json') as Extension[];

  it('names the plugin flowgate and exposes the page', () => {
    expect(pkg.name).toBe(pkg.consolePlugin.name);
    expect(pkg.consolePlugin).toMatchObject({
      name: 'flowgate',
      exposedModules: {
        NetworkFlowsPage: './components/NetworkFlowsPage',
        flowsAccess: './components/flowsAccessFlag',
      },
      dependencies: { '@console/pluginAPI': '>=4.22.0' },
    });
    expect(pkg.consolePlugin.displayName).toBeTruthy();
    expect(pkg.consolePlugin.description).toBeTruthy();
    // Exposed modules are relative to the webpack context, src/.
    expect(fs.existsSync(path.join(ROOT, 'src/components/NetworkFlowsPage.tsx'))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'src/components/flowsAccessFlag.ts'))).toBe(true);
  });

  it('declares the flags, a nav item in each perspective for readers only, and the route', () => {
    const entry = {
      name: '%plugin__flowgate~Network Flows%',
      href: '/flowgate/network-flows',
    };
    // Only users who may list flows (what the gateway asks of a reader) see an entry; an admin
    // lands in the Administrator perspective, other users in the Developer one.
    const readers = { required: ['FLOWGATE', 'FLOWGATE_FLOWS_READABLE'] };
    expect(extensions).toEqual([
      {
        type: 'console.flag/model',
        properties: { flag: 'FLOWGATE', model: { group: 'flowgate.dev', version: 'v1alpha1', kind: 'FlowExport' } },
      },
      {
        type: 'console.flag/hookProvider',
        properties: { handler: { $codeRef: 'flowsAccess.useFlowsReadableFlag' } },
      },
      {
        type: 'console.navigation/href',
        properties: { id: 'network-flows', perspective: 'admin', section: 'networking', ...entry },
        flags: readers,
      },
      {
        type: 'console.navigation/href',
        properties: { id: 'network-flows-dev', perspective: 'dev', section: 'resources', ...entry },
        flags: readers,
      },
      {
        type: 'console.page/route',
        properties: { exact: true, path: '/flowgate/network-flows', component: { $codeRef: 'NetworkFlowsPage' } },
        flags: { required: ['FLOWGATE'] },
      },
    ]);
  });

  it('has an English string for every key the code and the extensions use', () => {
    expect(() =>
      execFileSync(process.execPath, [path.join(ROOT, 'scripts/i18n.js'), '--check'], { stdio: 'pipe' }),
    ).not.toThrow();
  });

  it('imports the console SDK only from the console entries', () => {
    const files = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? files(full) : /\.tsx?$/.test(entry.name) && !entry.name.includes('.spec.') ? [full] : [];
      });
    const importers = files(path.join(ROOT, 'src'))
      .filter((file) => fs.readFileSync(file, 'utf8').includes('@openshift-console/dynamic-plugin-sdk'))
      .map((file) => path.relative(ROOT, file));
    expect(importers.sort()).toEqual(['src/components/NetworkFlowsPage.tsx', 'src/components/flowsAccessFlag.ts']);
  });
});
