// express4 is a devDependency alias (npm:express@4) so the suite can run against Express 4 and 5;
// its API surface used by the tests matches Express 5's types closely enough.
declare module 'express4' {
  import express from 'express';
  export = express;
}
