#!/usr/bin/env node
// Checks YAML runbooks against the JSON Schema of the runbook language.
//
//   node check.mjs SCHEMA FILE...          one line per file: "FILE<TAB>valid" or
//                                          "FILE<TAB>invalid: <instancePath>: <message>"
//   node check.mjs --lint-schema SCHEMA    checks the schema itself: it compiles under ajv's strict
//                                          mode, and every property has a description
//
// Exit status: 0 when every file is valid (or the lint passed), 1 when some file is invalid (or the
// lint failed), 2 on usage errors or a schema that does not compile.
//
// YAML is read as YAML 1.2 (core schema), as editors using the schema read it: plain `30` is a number,
// `"30"` a string, `true` a boolean, `on`/`yes` strings. A file the YAML parser refuses (syntax errors,
// duplicate keys, more than one document) is reported invalid with a "yaml:" message.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import YAML from 'yaml';

function usage() {
  process.stderr.write('usage: node check.mjs SCHEMA FILE...\n       node check.mjs --lint-schema SCHEMA\n');
  process.exit(2);
}

function compile(schemaPath) {
  let schema;
  try {
    schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  } catch (e) {
    process.stderr.write(`check.mjs: cannot read schema ${schemaPath}: ${e.message}\n`);
    process.exit(2);
  }
  // strict: true turns on strictSchema, strictNumbers, strictTypes and strictTuples: an unknown
  // keyword, or a keyword that cannot apply to the declared type, makes compilation fail. Union types
  // ("type": [...]) are how the schema says "an integer or a ${{ }} template", so they are allowed.
  // strictRequired is off: it does not see the properties declared beside an allOf/if/then/anyOf,
  // and "one of these keys is required" branches (actions, secret env/file) are written that way;
  // the --lint-schema pass checks instead that every required name is declared somewhere.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: false, verbose: true });
  try {
    return { schema, validate: ajv.compile(schema) };
  } catch (e) {
    process.stderr.write(`check.mjs: schema ${schemaPath} does not compile: ${e.message}\n`);
    process.exit(2);
  }
}

// Every entry of every `properties` must carry a description (editors show it on hover), and every
// name in a `required` must be declared in some `properties` (strictRequired is off, see above).
function lintSchema(schema) {
  const problems = [];
  const declared = new Set();
  const required = [];
  const walk = (node, path) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, `${path}/${i}`));
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      const p = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (k === 'properties' && v && typeof v === 'object') {
        for (const [name, sub] of Object.entries(v)) {
          declared.add(name);
          // `false` (a key forbidden in this branch) needs no description.
          if (sub === false) continue;
          if (typeof sub !== 'object' || typeof sub.description !== 'string' || sub.description.trim() === '') {
            problems.push(`${p}/${name}: property has no description`);
          }
        }
      }
      if (k === 'required' && Array.isArray(v)) for (const name of v) required.push([p, name]);
      walk(v, p);
    }
  };
  walk(schema, '#');
  for (const [p, name] of required) {
    if (!declared.has(name)) problems.push(`${p}: required property "${name}" is not declared in any properties`);
  }
  if (typeof schema.$id !== 'string') problems.push('#: no $id');
  if (schema.$schema !== 'https://json-schema.org/draft/2020-12/schema') problems.push('#: $schema is not draft 2020-12');
  return problems;
}

function describe(errors) {
  let err = errors[0];
  // Errors of the branches of an anyOf/oneOf come before the anyOf/oneOf itself. When every branch
  // only missed a required key ("one of these keys is required"), name them all.
  const wrap = errors.find((e) => ['anyOf', 'oneOf'].includes(e.keyword) && e.instancePath === err.instancePath &&
    err.schemaPath.startsWith(`${e.schemaPath}/`));
  if (wrap) {
    const branches = errors.filter((e) => e !== wrap && e.schemaPath.startsWith(`${wrap.schemaPath}/`));
    if (branches.every((e) => e.keyword === 'required')) {
      const keys = branches.map((e) => e.params.missingProperty);
      return `${err.instancePath || '/'}: must have one of the properties ${keys.map((k) => `'${k}'`).join(', ')}`;
    }
    err = wrap;
  }
  const p = err.params || {};
  // An error inside `propertyNames` comes first; the wrapping error names the key.
  const names = errors.find((e) => e.keyword === 'propertyNames' && e.instancePath === err.instancePath);
  let msg = `${err.instancePath || '/'}: ${err.message}`;
  // A key forbidden in this combination (a second action, `target` beside `url`, `min` on a string
  // input...) fails a `false` schema: say so in words.
  if (err.keyword === 'false schema') msg = `${err.instancePath}: key not allowed here (it conflicts with another key)`;
  if (p.additionalProperty !== undefined) msg += ` (${p.additionalProperty})`;
  else if (names && names !== err) msg = `${err.instancePath}: key ${JSON.stringify(names.params.propertyName)}: ${err.message}`;
  else if (p.propertyName !== undefined) msg += ` (key ${JSON.stringify(p.propertyName)})`;
  else if (p.allowedValues !== undefined) msg += ` (${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')})`;
  else if (p.allowedValue !== undefined) msg += ` (${JSON.stringify(p.allowedValue)})`;
  // "must NOT be valid" / "must match exactly one schema in oneOf" say little by themselves: add the
  // description of the schema that failed (verbose mode keeps it in the error).
  const desc = err.parentSchema && typeof err.parentSchema === 'object' ? err.parentSchema.description : undefined;
  if (desc && err.keyword === 'pattern') msg = `${err.instancePath}: has the wrong form [${desc}]`;
  else if (desc && ['not', 'oneOf', 'anyOf', 'type'].includes(err.keyword)) msg += ` [${desc}]`;
  return msg.replace(/[\r\n\t]+/g, ' ');
}

function checkFile(validate, file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `invalid: cannot read: ${e.message}`;
  }
  let data;
  try {
    const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, strict: true });
    if (doc.errors.length > 0) return `invalid: yaml: ${doc.errors[0].message.split('\n')[0]}`;
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return `invalid: yaml: ${String(e.message).split('\n')[0]}`;
  }
  if (validate(data)) return 'valid';
  return `invalid: ${describe(validate.errors)}`;
}

const args = process.argv.slice(2);
if (args[0] === '--lint-schema') {
  if (args.length !== 2) usage();
  const { schema } = compile(args[1]);
  const problems = lintSchema(schema);
  for (const p of problems) process.stdout.write(`${p}\n`);
  process.stdout.write(problems.length === 0 ? 'schema lint: ok\n' : `schema lint: ${problems.length} problem(s)\n`);
  process.exit(problems.length === 0 ? 0 : 1);
}
if (args.length < 1 || args[0].startsWith('-')) usage();
const { validate } = compile(args[0]);
let bad = 0;
for (const file of args.slice(1)) {
  const verdict = checkFile(validate, file);
  if (verdict !== 'valid') bad++;
  process.stdout.write(`${file}\t${verdict}\n`);
}
process.exit(bad === 0 ? 0 : 1);
