/**
 * A console-like host for the browser tests: it loads the built plugin the way the OpenShift
 * console 4.22 does and shows its extensions in a console-shaped page.
 *
 * - The share scope is built as the console's shared-modules-init builds it: each module the
 *   console provides (React, react-i18next, the SDK) under version '*', eager and already
 *   loaded, so the plugin's container takes these instances and no copy of its own. PatternFly's
 *   components are not in it: as in the console, the plugin shares its own dynamic modules.
 * - The real PluginStore/PluginLoader of @openshift/dynamic-plugin-sdk (what the console uses)
 *   fetches /api/plugins/flowgate/plugin-manifest.json, injects the entry script (which calls
 *   window.__load_plugin_entry__), inits the container with the share scope and decodes the code
 *   references; `@console/pluginAPI` resolves to 4.22.0.
 * - console.flag/model sets its flag when API discovery (/api/kubernetes/apis/<group>/<version>)
 *   lists the kind; the navigation item and the route need that flag, as in the console.
 * - The plugin's strings come from /locales/resource.json?lng=en&ns=plugin__flowgate, the
 *   console's i18next backend URL; i18next uses the console's separators.
 * - PatternFly's CSS (all of it, with the addons) comes from the host, as the console loads it for
 *   its plugins; a plugin's build leaves PatternFly's styles out.
 */
import '@patternfly/patternfly/patternfly.css';
import '@patternfly/patternfly/patternfly-addons.css';
import * as React from 'react';
import { useEffect, useState, type ComponentType, type FC } from 'react';
import { createRoot } from 'react-dom/client';
import i18next from 'i18next';
import * as ReactI18next from 'react-i18next';
import { PluginStore, type LoadedExtension } from '@openshift/dynamic-plugin-sdk';
import {
  Alert,
  Bullseye,
  Masthead,
  MastheadBrand,
  MastheadMain,
  Nav,
  NavExpandable,
  NavItem,
  NavList,
  Page,
  PageSection,
  PageSidebar,
  PageSidebarBody,
  Spinner,
  Title,
} from '@patternfly/react-core';
import * as consoleSdk from './consoleSdk';

const PLUGIN = 'flowgate';
const MANIFEST_URL = `/api/plugins/${PLUGIN}/plugin-manifest.json`;
const PLUGIN_API_VERSION = '4.22.0';

/** One module the console provides: any requested version gets this instance. */
const provided = (module: unknown) => ({
  '*': { get: () => Promise.resolve(() => module), eager: true, loaded: 1 },
});

const sharedScope = {
  '@openshift-console/dynamic-plugin-sdk': provided(consoleSdk),
  react: provided(React),
  'react-i18next': provided(ReactI18next),
};

interface FlagModel {
  flag: string;
  model: { group: string; version: string; kind: string };
}
interface NavHref {
  id: string;
  perspective?: string;
  section?: string;
  name: string;
  href: string;
}
interface PageRoute {
  path: string | string[];
  exact?: boolean;
  component: () => Promise<ComponentType>;
}

/** `%plugin__flowgate~Network Flows%` → the string in that namespace, as the console translates. */
const translated = (value: string): string => {
  const match = /^%(.+)%$/.exec(value);
  return match ? i18next.t(match[1]) : value;
};

const modelExists = async ({ group, version, kind }: FlagModel['model']): Promise<boolean> => {
  const response = await fetch(`/api/kubernetes/apis/${group}/${version}`, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    return false;
  }
  const discovery = (await response.json()) as { resources?: { kind: string }[] };
  return (discovery.resources ?? []).some((resource) => resource.kind === kind);
};

/** An error and its causes (the loader nests them), in one line. */
const describe = (cause: unknown): string => {
  if (Array.isArray(cause)) {
    return cause.map(describe).join('; ');
  }
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause;
    return inner === undefined ? cause.message : `${cause.message} (${describe(inner)})`;
  }
  return typeof cause === 'string' ? cause : JSON.stringify(cause);
};

const ofType = <T,>(extensions: LoadedExtension[], type: string): T[] =>
  extensions.filter((extension) => extension.type === type).map((extension) => extension.properties as T);

const loadPlugin = async (): Promise<PluginStore> => {
  await i18next.use(ReactI18next.initReactI18next).init({
    lng: 'en',
    fallbackLng: 'en',
    nsSeparator: '~',
    keySeparator: false,
    interpolation: { escapeValue: false },
    resources: {},
  });
  const store = new PluginStore({
    loaderOptions: { sharedScope, customDependencyResolutions: { '@console/pluginAPI': PLUGIN_API_VERSION } },
  });
  await store.loadPlugin(MANIFEST_URL);
  const info = store.getPluginInfo().find((plugin) => plugin.manifest.name === PLUGIN);
  if (info?.status !== 'loaded') {
    const reason = info?.status === 'failed' ? `${info.errorMessage}: ${describe(info.errorCause)}` : 'not loaded';
    throw new Error(`Plugin ${PLUGIN} did not load: ${reason}`);
  }
  const namespace = `plugin__${PLUGIN}`;
  const strings = (await (await fetch(`/locales/resource.json?lng=en&ns=${namespace}`)).json()) as Record<string, string>;
  i18next.addResourceBundle('en', namespace, strings, true, true);
  const flags: Record<string, boolean> = {};
  for (const { flag, model } of ofType<FlagModel>(store.getExtensions(), 'console.flag/model')) {
    flags[flag] = await modelExists(model);
  }
  store.setFeatureFlags(flags);
  return store;
};

const matches = (route: PageRoute, path: string): boolean =>
  (Array.isArray(route.path) ? route.path : [route.path]).some((candidate) =>
    route.exact === false ? path.startsWith(candidate) : path === candidate,
  );

const navigate = (href: string) => {
  window.history.pushState(null, '', href);
  window.dispatchEvent(new PopStateEvent('popstate'));
};

const usePath = (): string => {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => {
      setPath(window.location.pathname);
    };
    window.addEventListener('popstate', update);
    return () => {
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
};

/** The route's component, resolved through its code reference (the exposed module). */
const RoutePage: FC<{ route: PageRoute }> = ({ route }) => {
  const [Component, setComponent] = useState<ComponentType | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    route.component().then(
      (component) => {
        if (current) {
          setComponent(() => component);
        }
      },
      (caught: unknown) => {
        if (current) {
          setError(String(caught));
        }
      },
    );
    return () => {
      current = false;
    };
  }, [route]);
  if (error) {
    return (
      <PageSection>
        <Alert variant="danger" title="The page's module did not load" data-test="host-error">
          {error}
        </Alert>
      </PageSection>
    );
  }
  return Component ? <Component /> : <Spinner aria-label="Loading the page" />;
};

const Console: FC<{ store: PluginStore }> = ({ store }) => {
  const path = usePath();
  const extensions = store.getExtensions();
  const navItems = ofType<NavHref>(extensions, 'console.navigation/href').filter(
    (item) => (item.perspective ?? 'admin') === 'admin' && item.section === 'networking',
  );
  const route = ofType<PageRoute>(extensions, 'console.page/route').find((candidate) => matches(candidate, path));
  const sidebar = (
    <PageSidebar>
      <PageSidebarBody>
        <Nav aria-label="Console">
          <NavList>
            <NavExpandable title="Networking" groupId="networking" isExpanded>
              {navItems.map((item) => (
                <NavItem
                  key={item.id}
                  itemId={item.id}
                  to={item.href}
                  isActive={path === item.href}
                  data-test={`nav-${item.id}`}
                  onClick={(event) => {
                    event.preventDefault();
                    navigate(item.href);
                  }}
                >
                  {translated(item.name)}
                </NavItem>
              ))}
            </NavExpandable>
          </NavList>
        </Nav>
      </PageSidebarBody>
    </PageSidebar>
  );
  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadBrand>Console</MastheadBrand>
      </MastheadMain>
    </Masthead>
  );
  return (
    <Page masthead={masthead} sidebar={sidebar} isManagedSidebar>
      {route ? (
        <RoutePage route={route} />
      ) : (
        <PageSection>
          <Title headingLevel="h1">Overview</Title>
        </PageSection>
      )}
    </Page>
  );
};

const Host: FC = () => {
  const [store, setStore] = useState<PluginStore | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    loadPlugin().then(setStore, (caught: unknown) => {
      setError(caught instanceof Error ? caught.message : String(caught));
    });
  }, []);
  if (error) {
    return (
      <Alert variant="danger" title="The plugin did not load" data-test="host-error">
        {error}
      </Alert>
    );
  }
  if (!store) {
    return (
      <Bullseye>
        <Spinner aria-label="Loading plugins" />
      </Bullseye>
    );
  }
  return <Console store={store} />;
};

const root = document.getElementById('app');
if (root) {
  createRoot(root).render(<Host />);
}
