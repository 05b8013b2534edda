#!/usr/bin/env node
/*
 * Keeps locales/en/plugin__flowgate.json in step with the code: every t('…') key in src/ and
 * every %plugin__flowgate~…% in console-extensions.json. Keys are the English text; a key used
 * with `count` gets _one and _other forms. Existing values are kept.
 *
 *   node scripts/i18n.js          rewrite the file
 *   node scripts/i18n.js --check  exit 1 when keys are missing or unused
 */
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const NAMESPACE = 'plugin__flowgate';
const LOCALE = path.join(ROOT, 'locales', 'en', `${NAMESPACE}.json`);

const sourceFiles = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(entry.name) && !/\.spec\.tsx?$/.test(entry.name) ? [full] : [];
  });

const unquote = (quote, body) => (quote === '"' ? JSON.parse(`"${body}"`) : body.replace(/\\(.)/g, '$1'));

const wantedKeys = () => {
  const keys = new Set();
  const call = /\bt\(\s*(['"])((?:\\.|(?!\1).)*?)\1\s*(,\s*\{[^}]*?\bcount\b)?/gs;
  for (const file of sourceFiles(path.join(ROOT, 'src'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(call)) {
      const key = unquote(match[1], match[2]);
      if (match[3]) {
        keys.add(`${key}_one`);
        keys.add(`${key}_other`);
      } else {
        keys.add(key);
      }
    }
  }
  const extensions = fs.readFileSync(path.join(ROOT, 'console-extensions.json'), 'utf8');
  for (const match of extensions.matchAll(new RegExp(`%${NAMESPACE}~([^%]+)%`, 'g'))) {
    keys.add(match[1]);
  }
  return keys;
};

const main = () => {
  const wanted = wantedKeys();
  const current = fs.existsSync(LOCALE) ? JSON.parse(fs.readFileSync(LOCALE, 'utf8')) : {};
  const missing = [...wanted].filter((key) => !(key in current));
  const unused = Object.keys(current).filter((key) => !wanted.has(key));
  if (process.argv.includes('--check')) {
    if (missing.length || unused.length) {
      for (const key of missing) console.error(`missing: ${key}`);
      for (const key of unused) console.error(`unused: ${key}`);
      console.error('Run `npm run i18n` and translate the new keys.');
      process.exit(1);
    }
    return;
  }
  const next = {};
  for (const key of [...wanted].sort((a, b) => a.localeCompare(b))) {
    next[key] = key in current ? current[key] : key.replace(/_(one|other)$/, '');
  }
  fs.mkdirSync(path.dirname(LOCALE), { recursive: true });
  fs.writeFileSync(LOCALE, `${JSON.stringify(next, null, 2)}\n`);
  console.log(`${path.relative(ROOT, LOCALE)}: ${wanted.size} keys (${missing.length} added, ${unused.length} removed)`);
};

main();
