// Writes dotenv16_expected.json: what Node's dotenv 16.4.7 parse() returns for each case of dotenv16_cases.json.
// Run: npm install --prefix /tmp/x dotenv@16.4.7 && NODE_PATH=/tmp/x/node_modules node dotenv16_expected.js
'use strict';
const fs = require('fs');
const path = require('path');
const dotenv = require('dotenv');
const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'dotenv16_cases.json'), 'utf8'));
const out = { dotenv: require('dotenv/package.json').version, node: process.version, cases: {} };
for (const [name, text] of Object.entries(cases)) {
  out.cases[name] = dotenv.parse(Buffer.from(text, 'utf8'));
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
