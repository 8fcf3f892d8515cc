#!/usr/bin/env node
// vmdesk's own stand-in for Prisma's native `schema-engine` binary (PostgreSQL only), so that
// `prisma generate`, `migrate deploy|diff|dev|status` and `db push` work on machines that cannot
// download the native engine from Prisma's binary host. prisma.config.ts points the CLI at it
// (through scripts/prisma-schema-engine) unless PRISMA_SCHEMA_ENGINE_BINARY names another engine.
//
// The Prisma 7 CLI starts the schema engine as a child process and talks JSON-RPC to it over
// stdin/stdout (`--datamodels <file>... --datasource <json>`), plus a few one-shot sub-commands
// (`cli can-connect-to-database`, `cli create-database`, `--version`). This script speaks the same
// protocol but runs the WebAssembly build of the same engine (@prisma/schema-engine-wasm, a pinned
// devDependency) and reaches PostgreSQL through @prisma/adapter-pg. It resolves every import from
// this project's node_modules, so the versions are the lock file's: prisma 7.10.1,
// @prisma/adapter-pg 7.10.1, @prisma/driver-adapter-utils 7.10.1, pg 8,
// @prisma/schema-engine-wasm 8.1.0-2.59be4fda12412a79eeb9c2ae727b6aa723593323.
// Debug: PRISMA_WASM_ENGINE_DEBUG=1 logs every RPC call to stderr.
// Limits: PostgreSQL only; even schema-only diffs (--from-empty --to-schema) need a reachable
// database, because the wasm engine probes the server when it starts.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { createRequire } from 'node:module'
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from '@prisma/driver-adapter-utils'

const require = createRequire(import.meta.url)
const DEBUG = !!process.env.PRISMA_WASM_ENGINE_DEBUG
const debug = (...a) => DEBUG && console.error('[wasm-schema-engine]', ...a)

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2)
const datamodelPaths = []
let datasource = {}
let cliCommand = null
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--datamodels') datamodelPaths.push(argv[++i])
  else if (a === '--datasource') datasource = JSON.parse(argv[++i])
  else if (a === '--enabled-preview-features' || a === '--extension-types') i++
  else if (a === '--version' || a === '-V') cliCommand = 'version'
  else if (a === 'cli') cliCommand = argv[++i]
}

// ---------------------------------------------------------------- wasm engine
// Rust panics inside the wasm module report their message through this global
// (the Prisma CLI installs the same object before loading its wasm modules).
const panicRegistry = {
  message: '',
  get() {
    return this.message
  },
  set_message(message) {
    this.message = `RuntimeError: ${message}`
  },
}
globalThis.PRISMA_WASM_PANIC_REGISTRY = panicRegistry

async function loadWasmEngine() {
  const glue = await import('@prisma/schema-engine-wasm/schema_engine_bg')
  const dir = path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg'))
  const module = new WebAssembly.Module(fs.readFileSync(path.join(dir, 'schema_engine_bg.wasm')))
  const instance = new WebAssembly.Instance(module, { './schema_engine_bg.js': glue })
  glue.__wbg_set_wasm(instance.exports)
  instance.exports.__wbindgen_start()
  return glue
}

// ---------------------------------------------------------------- pg adapter
// adapter-pg has no column-type mapping for PostgreSQL's internal `"char"` type (oid 18),
// which the engine's catalog queries return (pg_constraint.contype, confdeltype, ...):
// "Column type 'char' could not be deserialized from the database". Let pg report it as
// text (the value is already a 1-letter string) and remember the columns, so that queryRaw
// can declare them as ColumnType.Character, which is what the engine reads them as.
const CHAR_OID = 18
const charColumns = new WeakMap() // pg result `rows` array -> indexes of "char" columns
const relabel = (res) => {
  for (const r of Array.isArray(res) ? res : [res]) {
    const idx = []
    ;(r?.fields ?? []).forEach((f, i) => {
      if (f.dataTypeID === CHAR_OID) {
        f.dataTypeID = 25 // text
        idx.push(i)
      }
    })
    if (idx.length && r.rows) charColumns.set(r.rows, idx)
  }
  return res
}
class CharAsTextClient extends pg.Client {
  query(config, values, callback) {
    if (typeof values === 'function') [callback, values] = [values, undefined]
    if (typeof callback === 'function')
      return super.query(config, values, (err, res) => callback(err, err ? res : relabel(res)))
    const result = super.query(config, values)
    return result && typeof result.then === 'function' ? result.then(relabel) : result
  }
}
function withCharColumns(queryable) {
  const queryRaw = queryable.queryRaw.bind(queryable)
  queryable.queryRaw = async (query) => {
    const out = await queryRaw(query)
    for (const i of charColumns.get(out.rows) ?? []) out.columnTypes[i] = ColumnTypeEnum.Character
    return out
  }
  return queryable
}

function pgConfig(url) {
  const u = new URL(url)
  const schema = u.searchParams.get('schema') ?? undefined
  u.searchParams.delete('schema')
  const config = { connectionString: u.toString(), Client: CharAsTextClient }
  if (schema) config.options = `-c search_path="${schema}"`
  return { config, schema }
}

// adapter-pg's executeScript() splits scripts on every ";" (breaks on string literals,
// function bodies, comments). The native engine sends a migration as ONE simple-protocol
// query (implicitly one transaction); do the same.
function patchAdapter(adapter) {
  withCharColumns(adapter)
  const startTransaction = adapter.startTransaction.bind(adapter)
  adapter.startTransaction = async (...args) => withCharColumns(await startTransaction(...args))
  const pool = adapter.underlyingDriver()
  adapter.executeScript = async (script) => {
    try {
      await pool.query(script)
    } catch (e) {
      if (typeof adapter.onError === 'function') adapter.onError(e) // rethrows as DriverAdapterError, like adapter-pg
      throw e
    }
  }
  return adapter
}

async function resetDatabase(adapter) {
  const pool = adapter.underlyingDriver()
  const { rows } = await pool.query(
    `SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'`,
  )
  for (const { nspname } of rows) await pool.query(`DROP SCHEMA "${nspname.replaceAll('"', '""')}" CASCADE`)
  await pool.query('CREATE SCHEMA IF NOT EXISTS "public"')
}

const openAdapters = [] // main-database adapters handed to the engine; closed when the CLI ends the session

function makeAdapterFactory(ds) {
  if (!ds?.url) {
    const fail = async () => {
      throw new Error('No datasource.url configured in prisma.config.ts')
    }
    return { provider: 'postgres', adapterName: '@prisma/adapter-pg', connect: fail, connectToShadowDb: fail }
  }
  const main = pgConfig(ds.url)
  const base = new PrismaPg(main.config, { schema: main.schema })
  return {
    provider: base.provider,
    adapterName: base.adapterName,
    async connect() {
      const adapter = patchAdapter(await base.connect())
      openAdapters.push(adapter)
      return adapter
    },
    async connectToShadowDb() {
      if (ds.shadowDatabaseUrl) {
        // explicit shadow database: the engine expects it empty -> reset it (the native engine does too)
        const shadow = pgConfig(ds.shadowDatabaseUrl)
        const adapter = patchAdapter(await new PrismaPg(shadow.config, { schema: shadow.schema }).connect())
        await resetDatabase(adapter)
        return adapter
      }
      // Temporary shadow database (needs CREATEDB), created and dropped like the native engine does.
      // Not adapter-pg's connectToShadowDb(): it builds the shadow pool as { ...config, database },
      // and pg lets `connectionString` override `database`, so it would point at the MAIN database.
      const name = `prisma_migrate_shadow_db_${crypto.randomUUID()}`
      await withClient(ds.url, (c) => c.query(`CREATE DATABASE "${name}"`))
      const u = new URL(ds.url)
      u.pathname = `/${name}`
      const shadow = pgConfig(u.toString())
      const adapter = patchAdapter(await new PrismaPg(shadow.config, { schema: shadow.schema }).connect())
      const release = adapter.dispose.bind(adapter)
      adapter.dispose = async () => {
        await release()
        await withClient(ds.url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}"`))
      }
      return adapter
    },
  }
}

// ---------------------------------------------------------------- one-shot `cli` commands
function describeTarget(url) {
  const u = new URL(url)
  return { host: `${u.hostname}:${u.port || 5432}`, db: decodeURIComponent(u.pathname.slice(1)) || 'postgres', user: decodeURIComponent(u.username) }
}

function toKnownError(err, url) {
  const t = describeTarget(url)
  if (err.code === '3D000') return { error_code: 'P1003', message: `Database \`${t.db}\` does not exist on the database server at \`${t.host}\`.` }
  if (err.code === '28P01' || err.code === '28000')
    return { error_code: 'P1000', message: `Authentication failed against database server, the provided database credentials for \`${t.user}\` are not valid.` }
  if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(err.code))
    return { error_code: 'P1001', message: `Can't reach database server at \`${t.host}\`` }
  return { error_code: 'P1000', message: String(err.message ?? err) }
}

async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: pgConfig(url).config.connectionString })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

function maintenanceUrl(url) {
  const u = new URL(url)
  u.pathname = '/postgres'
  return u.toString()
}

async function createDatabase(url) {
  const { db } = describeTarget(url)
  await withClient(maintenanceUrl(url), (c) => c.query(`CREATE DATABASE "${db.replaceAll('"', '""')}"`))
  return db
}

async function runCli(cmd) {
  if (cmd === 'version') {
    const glue = await loadWasmEngine()
    process.stdout.write(`schema-engine-cli ${glue.version()} (wasm, @prisma/adapter-pg)\n`)
    return 0
  }
  const url = datasource.url
  try {
    if (cmd === 'can-connect-to-database') await withClient(url, (c) => c.query('SELECT 1'))
    else if (cmd === 'create-database') await createDatabase(url)
    else if (cmd === 'drop-database') {
      const { db } = describeTarget(url)
      await withClient(maintenanceUrl(url), (c) => c.query(`DROP DATABASE IF EXISTS "${db.replaceAll('"', '""')}"`))
    } else throw new Error(`Unsupported schema engine cli command: ${cmd}`)
    return 0
  } catch (err) {
    const fields = toKnownError(err, url)
    // the CLI ignores the first stderr line and JSON-parses the rest
    process.stderr.write(`wasm-schema-engine: ${cmd} failed\n`)
    process.stderr.write(JSON.stringify({ level: 'ERROR', target: 'schema_engine::logger', fields }) + '\n')
    return 1
  }
}

// ---------------------------------------------------------------- JSON-RPC server
function rpcError(err) {
  const isPanic = err instanceof WebAssembly.RuntimeError || err?.name === 'RuntimeError'
  const message = (isPanic && panicRegistry.get()) || String(err?.message ?? err)
  return {
    code: 4466,
    message: 'An error happened. Check the data field for details.',
    data: isPanic
      ? { is_panic: true, message, error: { message }, backtrace: err?.stack ?? null }
      : { is_panic: false, message, error_code: typeof err?.code === 'string' ? err.code : undefined, meta: err?.meta ?? null },
  }
}

async function serve() {
  const glue = await loadWasmEngine()
  const datamodels = datamodelPaths.map((p) => [p, fs.readFileSync(p, 'utf8')])
  // One engine instance for the whole CLI session (like the native engine process): it keeps the
  // migration-schema cache that createMigration / evaluateDataLoss depend on.
  let enginePromise = null
  const engine = () =>
    (enginePromise ??= glue.SchemaEngine.new(
      { datamodels: datamodels.length ? datamodels : undefined },
      (log) => debug(log),
      bindMigrationAwareSqlAdapterFactory(makeAdapterFactory(datasource)),
    ))
  const releaseEngine = async () => {
    const p = enginePromise
    enginePromise = null
    if (p) {
      try {
        ;(await p).free()
      } catch {}
    }
    await Promise.all(openAdapters.splice(0).map((a) => a.dispose().catch(() => {})))
  }

  // In the wasm engine, createMigration and evaluateDataLoss can only replay the migration history
  // (into the shadow database) through a cache that devDiagnostic/diagnoseMigrationHistory fill in
  // via the adapter's connectToShadowDb(). When `migrate dev` first applied pending migrations, that
  // cache holds the older history and they fail with "PostgreSQL shadow DB must be provided through
  // an external factory". Fill the cache for the current history, then retry once.
  const withPrimedCache = (method) => async (params) => {
    const e = await engine()
    try {
      return await e[method](params)
    } catch (err) {
      if (!String(err?.message).includes('shadow DB must be provided through an external factory')) throw err
      debug(`${method}: priming the migration schema cache`)
      await e.diagnoseMigrationHistory({
        migrationsList: params.migrationsList,
        optInToShadowDatabase: true,
        filters: params.filters,
      })
      return await e[method](params)
    }
  }

  const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n')
  let notificationId = 1_000_000

  const handlers = {
    // methods whose name differs from / is missing in the wasm engine
    getDatabaseVersion: async () => (await engine()).version(),
    createDatabase: async (params) => {
      const url = params?.datasource?.tag === 'ConnectionString' ? params.datasource.url : datasource.url
      return { databaseName: await createDatabase(url) }
    },
    evaluateDataLoss: withPrimedCache('evaluateDataLoss'),
    createMigration: withPrimedCache('createMigration'),
    diff: async (params) => {
      const { stdout, ...rest } = await (await engine()).diff(params)
      // the native engine prints the diff through a `print` request to the CLI
      if (stdout) send({ jsonrpc: '2.0', id: notificationId++, method: 'print', params: { content: stdout.replace(/\n$/, '') } })
      return rest
    },
  }

  // A Rust panic can surface as an uncaught exception (thrown from a wasm closure inside a
  // promise job) instead of a rejected promise: answer the pending request, then exit.
  let current = null
  process.on('uncaughtException', (err) => {
    if (current !== null) send({ jsonrpc: '2.0', id: current, error: rpcError(err) })
    else process.stderr.write(`${panicRegistry.get() || err?.stack || err}\n`)
    process.exit(101)
  })

  let queue = Promise.resolve()
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => {
    if (!line.trim()) return
    const msg = JSON.parse(line)
    if (!msg.method) return // response to one of our `print` requests
    queue = queue.then(async () => {
      current = msg.id
      debug('->', msg.method, JSON.stringify(msg.params)?.slice(0, 500))
      try {
        const handler = handlers[msg.method]
        let result
        if (handler) result = await handler(msg.params)
        else {
          const e = await engine()
          if (typeof e[msg.method] !== 'function') throw new Error(`Method ${msg.method} is not supported by the wasm schema engine`)
          result = await e[msg.method](msg.params ?? {})
        }
        debug('<-', msg.method, JSON.stringify(result)?.slice(0, 500))
        send({ jsonrpc: '2.0', id: msg.id, result: result ?? {} })
      } catch (err) {
        debug('<- error', msg.method, err)
        send({ jsonrpc: '2.0', id: msg.id, error: rpcError(err) })
      }
      current = null
    })
  })
  rl.on('close', async () => {
    await queue
    await releaseEngine()
    process.exit(0)
  })
}

if (cliCommand) process.exit(await runCli(cliCommand))
else await serve()
