// Drops exactly one warning: node:sqlite's ExperimentalWarning, which Node 22 prints on every start
// of anything that opens the chain's or the hub's database and which no user can act on. Every
// other warning, experimental ones included, prints as before. Imported by bin/register-loaders.mjs
// and by the unit tests (vite.config.ts's setupFiles).
const SQLITE_WARNING = 'SQLite is an experimental feature';
const emitWarning = process.emitWarning;

if (!emitWarning.quietsSqlite) {
  const filtered = function (warning, ...rest) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0]?.type ?? warning?.name);
    const message = typeof warning === 'string' ? warning : warning?.message;
    if (type === 'ExperimentalWarning' && message?.startsWith(SQLITE_WARNING)) return;
    return emitWarning.call(this, warning, ...rest);
  };
  filtered.quietsSqlite = true;
  process.emitWarning = filtered;
}
