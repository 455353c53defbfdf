#!/usr/bin/env node
// The `hawser` command. npm links this file at install time, before dist/ is built, so it
// is a committed shim rather than dist/main.js itself.
require('../dist/main.js').main();
