#!/usr/bin/env node
// One official JavaScript client against URL (spillway, or the emulator itself):
//
//   node bulk.js ALIAS URL COUNT [INDEX]
//
// ALIAS is a dependency of package.json: es8 or es9 (@elastic/elasticsearch 8.x and 9.x,
// side by side through npm aliases) or opensearch (@opensearch-project/opensearch).
// It calls info(); then client.helpers.bulk() of COUNT documents, each a `create` into
// INDEX (default js-ALIAS) without an _id; then one plain client.bulk() of EXPLICIT
// documents created with explicit _ids ALIAS-x-0, ALIAS-x-1, ...
//
// Prints one JSON summary line on stdout, also when a step fails (then "error" says which
// step and why, and the exit code is 1).  The documents are documentFor(alias, i) and
// explicitFor(alias, i), serialized by the client as JSON.stringify does: the test builds
// the same bytes to check what arrived.

'use strict'

const fs = require('fs')
const path = require('path')

const EXPLICIT = 25

function documentFor (alias, i) {
  return {
    '@timestamp': new Date(Date.UTC(2026, 10, 22, 10, 0, 0, i % 1000)).toISOString(),
    n: i,
    client: alias,
    message: `js helper document ${i} "quoted" caf\u00e9 \u2603`
  }
}

function explicitFor (alias, i) {
  return { n: i, client: alias, explicit: true }
}

// The Elasticsearch clients 8 and 9 answer the body; the OpenSearch client (and the
// Elasticsearch client 7) answer {body, statusCode, headers, meta}.
function bodyOf (r) {
  return r !== null && typeof r === 'object' && 'statusCode' in r && 'body' in r ? r.body : r
}

function describe (err) {
  const out = { name: err && err.name, message: err && err.message }
  const meta = err && err.meta
  if (meta) {
    out.statusCode = meta.statusCode
    out.body = meta.body
  }
  return out
}

async function main () {
  const [alias, url, countArg, indexArg] = process.argv.slice(2)
  if (!alias || !url || !countArg) {
    process.stderr.write('usage: node bulk.js ALIAS URL COUNT [INDEX]\n')
    process.exit(2)
  }
  const count = parseInt(countArg, 10)
  const index = indexArg || `js-${alias}`
  // (Read from disk: the Elasticsearch 8 client's "exports" do not list its package.json.)
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', alias,
    'package.json'), 'utf8'))
  const { Client } = require(alias)
  const summary = {
    client: alias,
    package: pkg.name,
    package_version: pkg.version,
    node: process.versions.node,
    index,
    explicit_ids: []
  }
  const client = new Client({ node: url, requestTimeout: 60000, maxRetries: 3 })
  let step = 'info'
  try {
    summary.info = bodyOf(await client.info())

    step = 'helpers.bulk'
    const dropped = []
    const docs = []
    for (let i = 0; i < count; i++) docs.push(documentFor(alias, i))
    const result = await client.helpers.bulk({
      datasource: docs,
      onDocument: () => ({ create: { _index: index } }),
      onDrop: (d) => { if (dropped.length < 10) dropped.push({ status: d.status, error: d.error }) },
      flushBytes: 64 * 1024, // several requests, some of them concurrent
      concurrency: 3,
      retries: 3,
      wait: 100
    })
    summary.helpers = {
      total: result.total,
      successful: result.successful,
      failed: result.failed,
      retry: result.retry,
      noop: result.noop,
      aborted: result.aborted,
      dropped
    }

    step = 'bulk'
    const operations = []
    for (let i = 0; i < EXPLICIT; i++) {
      const id = `${alias}-x-${i}`
      summary.explicit_ids.push(id)
      operations.push({ create: { _index: index, _id: id } }, explicitFor(alias, i))
    }
    // The 8 and 9 clients take `operations`; the OpenSearch client takes `body`.
    const params = alias === 'opensearch' ? { body: operations } : { operations }
    const answer = bodyOf(await client.bulk(params))
    summary.bulk = {
      errors: answer.errors,
      items: answer.items.length,
      statuses: answer.items.map((it) => Object.values(it)[0].status),
      ids: answer.items.map((it) => Object.values(it)[0]._id),
      first_error: (answer.items.map((it) => Object.values(it)[0].error).filter(Boolean))[0] || null
    }
  } catch (err) {
    summary.error = { step, ...describe(err) }
  } finally {
    await client.close()
  }
  process.stdout.write(JSON.stringify(summary) + '\n')
  process.exitCode = summary.error ? 1 : 0
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: { step: 'main', ...describe(err) } }) + '\n')
  process.stderr.write((err && err.stack) + '\n')
  process.exitCode = 1
})
