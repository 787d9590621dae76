// A require hook for child processes spawned by tests (`node -r ./test/helpers/ts-register.js x.ts`):
// compiles TypeScript on the fly with @swc/core, which jest already uses, and maps the package's
// own name to src/, as jest's moduleNameMapper does. Test-only; never shipped.
const Module = require('node:module');
const path = require('node:path');
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '../..');

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolve(request, parent, ...rest) {
  if (request === 'loadbalance-middleware') request = path.join(root, 'src/index.ts');
  else if (request.startsWith('loadbalance-middleware/')) {
    request = path.join(root, 'src/entry', `${request.slice('loadbalance-middleware/'.length)}.ts`);
  }
  return originalResolve.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = function compile(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    sourceMaps: 'inline',
    module: { type: 'commonjs' },
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  });
  module._compile(code, filename);
};
