'use strict';
// Entry point of the `bnlab` package, the name notebooks import lib under.
//
// A tslab kernel keeps every required module in Node's require cache, so an
// edited and rebuilt lib would never reach a running notebook. This loader
// removes itself from the cache, so each `import ... from 'bnlab'` runs it
// again; when any file in dist/ changed since the last load, it evicts the
// dist modules so the re-run import cell gets the new code. Unchanged, it
// returns the cached modules and costs a few stat calls.
const fs = require('fs');
const path = require('path');

const dist = path.join(__dirname, 'dist');
const state = (globalThis.__bnlabLoader ??= { stamp: null });

function distStamp(dir) {
  let newest = 0;
  let count = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = distStamp(p);
      newest = Math.max(newest, sub.newest);
      count += sub.count;
    } else if (entry.name.endsWith('.js')) {
      newest = Math.max(newest, fs.statSync(p).mtimeMs);
      count += 1;
    }
  }
  return { newest, count };
}

if (!fs.existsSync(path.join(dist, 'index.js'))) {
  throw new Error(`bnlab: ${dist} is not built. Run \`npm run build\` (or \`npm run setup\`) in the project root.`);
}
const now = distStamp(dist);
const stamp = `${now.newest}:${now.count}`;
if (state.stamp !== null && state.stamp !== stamp) {
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(dist + path.sep)) delete require.cache[key];
  }
}
state.stamp = stamp;
delete require.cache[__filename];
module.exports = require('./dist/index.js');
