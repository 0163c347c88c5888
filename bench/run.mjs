/**
 * `npm run bench [case...]`: benchmarks, printed as Markdown tables. Not tests: they measure.
 * Cases: info.
 */
const cases = {
  info: () => import('./info.mjs'),
  download: () => import('./download.mjs'),
  create: () => import('./create.mjs'),
  verify: () => import('./verify.mjs'),
  upload: () => import('./upload.mjs'),
  utp: () => import('./utp.mjs'),
  webseed: () => import('./webseed.mjs'),
  v2: () => import('./v2.mjs'),
  rc4: () => import('./rc4.mjs'),
  memory: () => import('./memory.mjs'),
  floods: () => import('./floods.mjs'),
  swarm: () => import('./swarm.mjs'),
  scale: () => import('./scale.mjs'),
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(cases)) {
  const load = cases[name];
  if (!load) {
    console.error(`bench: unknown case ${name} (have: ${Object.keys(cases).join(', ')})`);
    process.exit(2);
  }
  await (await load()).run();
}
